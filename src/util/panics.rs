//! Running a dependency's code that can panic on malformed input (a file parser that asserts
//! instead of returning an error): the panic becomes an error value and is not printed, so the
//! caller reports one clear error naming the input instead of a crash report.
use std::cell::Cell;
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::sync::Once;

thread_local! {
    /// Whether a panic on this thread is caught by [`catch_quietly`] (and so not printed).
    static QUIET: Cell<bool> = const { Cell::new(false) };
}

/// Wraps the panic hook once: panics inside [`catch_quietly`] are not printed; every other panic
/// goes to the hook that was there before.
fn install_hook() {
    static ONCE: Once = Once::new();
    ONCE.call_once(|| {
        let previous = std::panic::take_hook();
        std::panic::set_hook(Box::new(move |info| {
            if !QUIET.with(Cell::get) {
                previous(info);
            }
        }));
    });
}

/// Runs `f`; a panic inside it is returned as `Err(its message)` without being printed.
pub fn catch_quietly<T>(f: impl FnOnce() -> T) -> Result<T, String> {
    install_hook();
    let was = QUIET.with(|q| q.replace(true));
    let result = catch_unwind(AssertUnwindSafe(f));
    QUIET.with(|q| q.set(was));
    result.map_err(|payload| {
        payload
            .downcast_ref::<&str>()
            .map(|s| s.to_string())
            .or_else(|| payload.downcast_ref::<String>().cloned())
            .unwrap_or_else(|| "a panic without a message".into())
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn panics_become_errors_and_values_pass_through() {
        assert_eq!(catch_quietly(|| 7), Ok(7));
        let n = 3;
        assert_eq!(
            catch_quietly(|| -> u8 { panic!("bad header {n}") }),
            Err("bad header 3".to_string())
        );
        assert_eq!(
            catch_quietly(|| -> u8 { panic!("plain") }),
            Err("plain".to_string())
        );
        assert!(!QUIET.with(Cell::get));
    }
}
