//! Reading import input: files, directories of them, gzip, and the three
//! shapes records come in.
//!
//! An input is cut into [`Unit`]s, each one JSON text that a
//! [`Format`](super::Format) maps, with the line it starts on (for errors
//! that name it). The shape is told from the first non-blank line:
//!
//! - [`Shape::Lines`]: one JSON value a line (JSON Lines, CloudTrail
//!   delivery files as CloudTrail writes them, an export's array on one
//!   line). Each line is a unit, so one bad line spoils only itself.
//! - [`Shape::Document`]: the first line is a lone `{` or `[`, so the input
//!   is one pretty-printed JSON document (a delivery file after `jq .`); it
//!   is read whole and is one unit.
//! - [`Shape::Csv`]: anything else holding a comma: a CSV table whose
//!   header names the columns (GitHub's audit log export). Each row is a
//!   unit: a JSON object of its non-empty cells, a dotted column name
//!   (`actor_location.country_code`) making nested objects, as in the
//!   JSON export.
//!
//! Gzip (`.json.gz` as CloudTrail delivers, or any gzipped input) is
//! recognised by its magic bytes, whatever the name.

use std::fs::File;
use std::io::{self, BufRead, BufReader, Cursor, Read};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use flate2::read::MultiGzDecoder;
use serde_json::{Map, Value};

/// One JSON text to map, and the line of its input it starts on.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Unit {
    /// 1-based line number.
    pub line: u64,
    /// The JSON text.
    pub text: String,
}

/// A part of an input that cannot be read: a CSV row (the rows after it
/// are still read), or the rest of the input (a read error, a document
/// that is not JSON).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Unreadable {
    /// 1-based line it is on.
    pub line: u64,
    /// What is wrong there.
    pub why: String,
}

/// How an input holds its records.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Shape {
    /// One JSON value a line.
    Lines,
    /// One (pretty-printed) JSON document.
    Document,
    /// A CSV table with a header row.
    Csv,
}

/// The files a path names: itself, or for a directory every file below it
/// (hidden ones, whose name starts with `.`, skipped), in name order so that
/// delivery files dated in their names are read in time order.
///
/// # Errors
/// A directory that cannot be walked, naming the path.
pub fn files(path: &Path) -> Result<Vec<PathBuf>, String> {
    if !path.is_dir() {
        return Ok(vec![path.to_path_buf()]);
    }
    let mut found = Vec::new();
    let walk = walkdir::WalkDir::new(path)
        .sort_by_file_name()
        .into_iter()
        .filter_entry(|e| e.depth() == 0 || !e.file_name().to_string_lossy().starts_with('.'));
    for entry in walk {
        let entry = entry.map_err(|e| format!("{}: {e}", path.display()))?;
        if entry.file_type().is_file() {
            found.push(entry.into_path());
        }
    }
    Ok(found)
}

/// The units of one input, in order.
pub struct Units {
    shape: Shape,
    rest: Rest,
}

/// What is left to read of an input.
enum Rest {
    Lines {
        input: Box<dyn BufRead + Send>,
        /// The number of the last line read.
        line: u64,
        /// That line, when it was read to tell the shape and is not yet
        /// handed out.
        pending: Option<String>,
    },
    Document {
        input: Box<dyn BufRead + Send>,
        /// The document's first line, and its number.
        line: u64,
        first: String,
    },
    Csv {
        rows: csv::StringRecordsIntoIter<Box<dyn Read + Send>>,
        header: Vec<String>,
        /// Blank lines before the header, which the reader did not see.
        skipped: u64,
    },
    Done,
}

impl Units {
    /// Reads `input` (gunzipped if it is gzip), telling its shape from its
    /// first non-blank line. `read` counts the bytes taken from `input`
    /// (before decompression), for a progress bar.
    ///
    /// # Errors
    /// A read error, or a CSV header that cannot be read.
    pub fn new(input: impl Read + Send + 'static, read: Arc<AtomicU64>) -> io::Result<Units> {
        let mut raw = BufReader::new(Counted { input, read });
        let input: Box<dyn BufRead + Send> = if raw.fill_buf()?.starts_with(&[0x1f, 0x8b]) {
            Box::new(BufReader::new(MultiGzDecoder::new(raw)))
        } else {
            Box::new(raw)
        };
        Units::shaped(input)
    }

    fn shaped(mut input: Box<dyn BufRead + Send>) -> io::Result<Units> {
        let mut line = 0u64;
        let mut text = String::new();
        loop {
            text.clear();
            if input.read_line(&mut text)? == 0 {
                return Ok(Units {
                    shape: Shape::Lines,
                    rest: Rest::Done,
                });
            }
            line += 1;
            if !text.trim().is_empty() {
                break;
            }
        }
        let first = text.trim();
        if first == "{" || first == "[" {
            return Ok(Units {
                shape: Shape::Document,
                rest: Rest::Document {
                    input,
                    line,
                    first: text,
                },
            });
        }
        if first.starts_with('{') || first.starts_with('[') || !first.contains(',') {
            let first = text.trim_end_matches(['\n', '\r']).to_string();
            return Ok(Units {
                shape: Shape::Lines,
                rest: Rest::Lines {
                    input,
                    line,
                    pending: Some(first),
                },
            });
        }
        let skipped = line - 1;
        let table: Box<dyn Read + Send> = Box::new(Cursor::new(text.into_bytes()).chain(input));
        let mut reader = csv::ReaderBuilder::new().flexible(true).from_reader(table);
        let header = reader
            .headers()
            .map_err(|e| io::Error::new(io::ErrorKind::InvalidData, format!("CSV header: {e}")))?
            .iter()
            .map(str::to_string)
            .collect();
        Ok(Units {
            shape: Shape::Csv,
            rest: Rest::Csv {
                rows: reader.into_records(),
                header,
                skipped,
            },
        })
    }

    /// How the input holds its records.
    pub fn shape(&self) -> Shape {
        self.shape
    }
}

impl Iterator for Units {
    /// A unit, or a part that cannot be read ([`Unreadable`]).
    type Item = Result<Unit, Unreadable>;

    fn next(&mut self) -> Option<Self::Item> {
        match &mut self.rest {
            Rest::Done => None,
            Rest::Lines {
                input,
                line,
                pending,
            } => {
                if let Some(text) = pending.take() {
                    return Some(Ok(Unit { line: *line, text }));
                }
                let mut text = String::new();
                loop {
                    text.clear();
                    match input.read_line(&mut text) {
                        Ok(0) => {
                            self.rest = Rest::Done;
                            return None;
                        }
                        Ok(_) => *line += 1,
                        Err(e) => {
                            let at = *line + 1;
                            self.rest = Rest::Done;
                            return Some(Err(Unreadable {
                                line: at,
                                why: e.to_string(),
                            }));
                        }
                    }
                    if !text.trim().is_empty() {
                        let text = text.trim_end_matches(['\n', '\r']).to_string();
                        return Some(Ok(Unit { line: *line, text }));
                    }
                }
            }
            Rest::Document { input, line, first } => {
                let line = *line;
                let mut text = std::mem::take(first);
                let read = input.read_to_string(&mut text);
                self.rest = Rest::Done;
                Some(match read {
                    Err(e) => Err(Unreadable {
                        line,
                        why: e.to_string(),
                    }),
                    Ok(_) => match serde_json::from_str::<Value>(&text) {
                        Ok(value) => Ok(Unit {
                            line,
                            text: value.to_string(),
                        }),
                        Err(e) => Err(Unreadable {
                            line: line + e.line() as u64 - 1,
                            why: format!("not JSON: {e}"),
                        }),
                    },
                })
            }
            Rest::Csv {
                rows,
                header,
                skipped,
            } => {
                let row = rows.next()?;
                let line_of =
                    |at: Option<&csv::Position>| *skipped + at.map_or(0, csv::Position::line);
                Some(match row {
                    Ok(row) if row.len() > header.len() => Err(Unreadable {
                        line: line_of(row.position()),
                        why: format!(
                            "a row of {} cells under a header of {}: the cells past the header would have no name",
                            row.len(),
                            header.len()
                        ),
                    }),
                    Ok(row) => Ok(Unit {
                        line: line_of(row.position()),
                        text: Value::Object(row_object(header, &row)).to_string(),
                    }),
                    Err(e) => Err(Unreadable {
                        line: line_of(e.position()),
                        why: format!("not CSV: {e}"),
                    }),
                })
            }
        }
    }
}

/// A CSV row as a JSON object: each non-empty cell under its column's
/// name, a dotted name nesting (`a.b` → `{"a":{"b":…}}`). Cells stay
/// strings: the table does not say which are numbers, and evidence is kept
/// as written.
fn row_object(header: &[String], row: &csv::StringRecord) -> Map<String, Value> {
    let mut object = Map::new();
    for (name, cell) in header.iter().zip(row.iter()) {
        if !cell.is_empty() && !name.is_empty() {
            insert_path(&mut object, name, Value::String(cell.to_string()));
        }
    }
    object
}

/// Puts `value` at the dotted `path` of `object`, making the objects on
/// the way; where a part already holds a value that is not an object, the
/// whole path is the key instead, so no cell is lost.
fn insert_path(object: &mut Map<String, Value>, path: &str, value: Value) {
    let Some((head, tail)) = path.split_once('.') else {
        object.insert(path.to_string(), value);
        return;
    };
    if object.get(head).is_some_and(|v| !v.is_object()) {
        object.insert(path.to_string(), value);
        return;
    }
    if let Value::Object(inner) = object
        .entry(head.to_string())
        .or_insert_with(|| Value::Object(Map::new()))
    {
        insert_path(inner, tail, value);
    }
}

/// A reader counting the bytes it hands out.
struct Counted<R> {
    input: R,
    read: Arc<AtomicU64>,
}

impl<R: Read> Read for Counted<R> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let n = self.input.read(buf)?;
        self.read.fetch_add(n as u64, Ordering::Relaxed);
        Ok(n)
    }
}

/// Opens `path` for [`Units::new`].
///
/// # Errors
/// The file cannot be opened (the message names it).
pub fn open(path: &Path, read: Arc<AtomicU64>) -> Result<Units, String> {
    let file = File::open(path).map_err(|e| format!("{}: {e}", path.display()))?;
    Units::new(file, read).map_err(|e| format!("{}: {e}", path.display()))
}

#[cfg(test)]
mod tests {
    use std::io::Write;

    use flate2::Compression;
    use flate2::write::GzEncoder;

    use super::*;

    fn units(input: &[u8]) -> (Shape, Vec<Result<Unit, Unreadable>>) {
        let units =
            Units::new(Cursor::new(input.to_vec()), Arc::new(AtomicU64::new(0))).expect("reads");
        (units.shape(), units.collect())
    }

    fn unit(line: u64, text: &str) -> Result<Unit, Unreadable> {
        Ok(Unit {
            line,
            text: text.to_string(),
        })
    }

    #[test]
    fn lines_are_units_numbered_as_the_file_is_blank_lines_skipped() {
        let (shape, got) = units(b"\n{\"a\":1}\r\n\n  \n{broken\n[1,2]");
        assert_eq!(shape, Shape::Lines);
        assert_eq!(
            got,
            [unit(2, "{\"a\":1}"), unit(5, "{broken"), unit(6, "[1,2]")]
        );
        assert_eq!(units(b"").1, []);
        assert_eq!(units(b"\n\n").1, []);
        assert_eq!(units(b"no comma here").0, Shape::Lines);
    }

    #[test]
    fn a_pretty_printed_document_is_one_unit() {
        let (shape, got) = units(b"\n{\n  \"Records\": [\n    {\"x\": 1}\n  ]\n}\n");
        assert_eq!(shape, Shape::Document);
        assert_eq!(got, [unit(2, "{\"Records\":[{\"x\":1}]}")]);
        let (_, got) = units(b"[\n  1,\n  oops\n]");
        let Unreadable { line, why } = got[0].clone().unwrap_err();
        assert_eq!(line, 3, "the error names the line it is on: {why}");
        assert!(why.starts_with("not JSON"), "{why}");
    }

    #[test]
    fn gzip_is_recognised_by_its_bytes() {
        let mut gz = GzEncoder::new(Vec::new(), Compression::fast());
        gz.write_all(b"{\"a\":1}\n{\"b\":2}\n").unwrap();
        let (shape, got) = units(&gz.finish().unwrap());
        assert_eq!(shape, Shape::Lines);
        assert_eq!(got, [unit(1, "{\"a\":1}"), unit(2, "{\"b\":2}")]);
    }

    #[test]
    fn csv_rows_are_objects_of_their_cells() {
        let (shape, got) =
            units(b"\na,b.c,b.d,a.x\n1,\"two, \"\"2\"\"\",,y\nshort\n1,2,3,4,5\nlast\n");
        assert_eq!(shape, Shape::Csv);
        assert_eq!(
            got[..2],
            [
                unit(3, r#"{"a":"1","a.x":"y","b":{"c":"two, \"2\""}}"#),
                unit(4, r#"{"a":"short"}"#),
            ],
            "nested by dots, empty cells left out, a clash kept under the whole name"
        );
        let Err(Unreadable { line, why }) = &got[2] else {
            panic!("a row longer than the header is refused: {got:?}");
        };
        assert_eq!(*line, 5);
        assert!(
            why.contains("a row of 5 cells under a header of 4"),
            "{why}"
        );
        assert_eq!(
            got[3],
            unit(6, r#"{"a":"last"}"#),
            "and the rows after it read"
        );
    }

    #[test]
    fn a_directory_is_its_files_in_name_order_hidden_ones_skipped() {
        let dir = tempfile::tempdir().unwrap();
        let root = dir.path();
        std::fs::create_dir_all(root.join("2026/12")).unwrap();
        std::fs::create_dir_all(root.join(".git")).unwrap();
        for name in ["b.json", "a.json", "2026/12/c.json.gz", ".hidden", ".git/x"] {
            std::fs::write(root.join(name), b"{}").unwrap();
        }
        let found: Vec<String> = files(root)
            .unwrap()
            .iter()
            .map(|p| p.strip_prefix(root).unwrap().display().to_string())
            .collect();
        assert_eq!(found, ["2026/12/c.json.gz", "a.json", "b.json"]);
        let one = root.join("a.json");
        assert_eq!(files(&one).unwrap(), [one]);
    }
}
