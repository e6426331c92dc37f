//! A tiny problem file in the layout of the paper's verl parquet files (`data_source`, `prompt`
//! as a list of {content, role}, `reward_model.ground_truth.target`, `extra_info`), written with
//! the parquet crate's column writers, snappy-compressed like the released files.
use parquet::basic::Compression;
use parquet::data_type::{ByteArray, ByteArrayType, Int64Type};
use parquet::file::properties::WriterProperties;
use parquet::file::writer::SerializedFileWriter;
use std::sync::Arc;

const SCHEMA: &str = "
message verl {
  required binary data_source (UTF8);
  required group prompt (LIST) {
    repeated group list {
      required group element {
        required binary content (UTF8);
        required binary role (UTF8);
      }
    }
  }
  required group reward_model {
    required group ground_truth {
      required binary target (UTF8);
    }
    required binary style (UTF8);
  }
  required group extra_info {
    required int64 index;
    required binary split (UTF8);
  }
}";

/// The bytes of a parquet file with one row per (question, answer), one user turn each.
pub fn verl_parquet(rows: &[(&str, &str)]) -> Vec<u8> {
    let schema = Arc::new(parquet::schema::parser::parse_message_type(SCHEMA).unwrap());
    let props = Arc::new(
        WriterProperties::builder()
            .set_compression(Compression::SNAPPY)
            .build(),
    );
    let mut out = Vec::new();
    let mut w = SerializedFileWriter::new(&mut out, schema, props).unwrap();
    let mut rg = w.next_row_group().unwrap();
    let n = rows.len();
    let strs = |f: &dyn Fn(usize) -> String| -> Vec<ByteArray> {
        (0..n).map(|i| ByteArray::from(f(i).as_str())).collect()
    };
    // One list element per row: definition level 1 (the element is there), repetition 0.
    let (def, rep) = (vec![1i16; n], vec![0i16; n]);
    let mut leaf = 0;
    while let Some(mut col) = rg.next_column().unwrap() {
        match leaf {
            5 => {
                let index: Vec<i64> = (0..n as i64).collect();
                col.typed::<Int64Type>()
                    .write_batch(&index, None, None)
                    .unwrap();
            }
            1 | 2 => {
                let values = if leaf == 1 {
                    strs(&|i| rows[i].0.to_string())
                } else {
                    strs(&|_| "user".to_string())
                };
                col.typed::<ByteArrayType>()
                    .write_batch(&values, Some(&def), Some(&rep))
                    .unwrap();
            }
            _ => {
                let values = match leaf {
                    0 => strs(&|_| "tiny".to_string()),
                    3 => strs(&|i| rows[i].1.to_string()),
                    4 => strs(&|_| "rule".to_string()),
                    _ => strs(&|_| "test".to_string()),
                };
                col.typed::<ByteArrayType>()
                    .write_batch(&values, None, None)
                    .unwrap();
            }
        }
        col.close().unwrap();
        leaf += 1;
    }
    rg.close().unwrap();
    w.close().unwrap();
    out
}

/// A parquet file with only `data_source` and a plain-text `prompt` per row: no gold answers.
pub fn prompt_only_parquet(prompts: &[&str]) -> Vec<u8> {
    let message =
        "message m { required binary data_source (UTF8); required binary prompt (UTF8); }";
    let schema = Arc::new(parquet::schema::parser::parse_message_type(message).unwrap());
    let props = Arc::new(WriterProperties::builder().build());
    let mut out = Vec::new();
    let mut w = SerializedFileWriter::new(&mut out, schema, props).unwrap();
    let mut rg = w.next_row_group().unwrap();
    let mut leaf = 0;
    while let Some(mut col) = rg.next_column().unwrap() {
        let values: Vec<ByteArray> = prompts
            .iter()
            .map(|p| ByteArray::from(if leaf == 0 { "tiny" } else { *p }))
            .collect();
        col.typed::<ByteArrayType>()
            .write_batch(&values, None, None)
            .unwrap();
        col.close().unwrap();
        leaf += 1;
    }
    rg.close().unwrap();
    w.close().unwrap();
    out
}
