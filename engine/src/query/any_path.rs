//! A bare word or phrase searched in every string of `details`, whatever
//! its path.
//!
//! `details` is indexed once, as a tantivy JSON field: a word `w` in the
//! string at path `a.b` is the term `a␁b␀s` + `w` (path segments joined by
//! 0x01, 0x00 ending the path, `s` the string type). A bare word must be
//! found under any path, so per tantivy segment an automaton walks the term
//! dictionary for the keys "any path, string type, then the word". The
//! dictionary is an sstable (sorted keys in blocks of about 4 KB): the walk
//! reads only the blocks whose first and last keys leave room for a match,
//! about one per distinct path, not every term.
//!
//! A word matches the union of those terms' postings. A phrase is searched
//! as one phrase per path holding its first word (positions are kept per
//! path, with a gap between the strings of an array), so, as before, a
//! phrase matches within one string, never across two.
//!
//! Numbers, booleans and keys in `details` are not text: only string terms
//! match.

use tantivy::query::{
    AutomatonWeight, BooleanQuery, EmptyScorer, EnableScoring, Explanation, PhraseQuery, Query,
    Scorer, Weight,
};
use tantivy::schema::Field;
use tantivy::{DocId, DocSet, Score, SegmentReader, TantivyError, Term};
use tantivy_fst::Automaton;

/// Marks the end of a JSON path in a term (tantivy's `JSON_END_OF_PATH`).
const END_OF_PATH: u8 = 0;
/// The type code of a string value in a JSON term (tantivy's `Type::Str`).
const STRING_TYPE: u8 = b's';

/// `words` (one word, or the consecutive words of a phrase, as the
/// analyzer produced them) in any string of the JSON field `field`.
#[derive(Debug, Clone)]
pub(crate) struct AnyPath {
    field: Field,
    words: Vec<String>,
    slop: u32,
}

impl AnyPath {
    /// One word, or a phrase of consecutive words with `slop`.
    pub(crate) fn new(field: Field, words: Vec<String>, slop: u32) -> AnyPath {
        AnyPath { field, words, slop }
    }

    /// The automaton matching the first word under any path.
    fn first_word(&self) -> WordUnderAnyPath {
        WordUnderAnyPath(self.words.first().cloned().unwrap_or_default().into_bytes())
    }
}

impl Query for AnyPath {
    fn weight(&self, _: EnableScoring<'_>) -> tantivy::Result<Box<dyn Weight>> {
        if self.words.len() == 1 {
            Ok(Box::new(AutomatonWeight::new(
                self.field,
                self.first_word(),
            )))
        } else {
            Ok(Box::new(PhraseWeight(self.clone())))
        }
    }
}

/// A phrase under any path: per segment, one phrase per path holding its
/// first word.
struct PhraseWeight(AnyPath);

impl Weight for PhraseWeight {
    fn scorer(&self, reader: &SegmentReader, boost: Score) -> tantivy::Result<Box<dyn Scorer>> {
        let q = &self.0;
        let inverted = reader.inverted_index(q.field)?;
        let mut keys = inverted.terms().search(q.first_word()).into_stream()?;
        let mut phrases: Vec<Box<dyn Query>> = Vec::new();
        while keys.advance() {
            let key = keys.key();
            let Some(end) = key.iter().position(|&b| b == END_OF_PATH) else {
                continue;
            };
            let path = &key[..=end];
            let terms = q
                .words
                .iter()
                .enumerate()
                .map(|(offset, word)| (offset, path_term(q.field, path, word)))
                .collect();
            phrases.push(Box::new(PhraseQuery::new_with_offset_and_slop(
                terms, q.slop,
            )));
        }
        match phrases.len() {
            0 => Ok(Box::new(EmptyScorer)),
            _ => BooleanQuery::union(phrases)
                .weight(EnableScoring::disabled_from_schema(reader.schema()))?
                .scorer(reader, boost),
        }
    }

    fn explain(&self, reader: &SegmentReader, doc: DocId) -> tantivy::Result<Explanation> {
        let mut scorer = self.scorer(reader, 1.0)?;
        if scorer.seek(doc) != doc {
            return Err(TantivyError::InvalidArgument(format!(
                "document {doc} does not match"
            )));
        }
        Ok(Explanation::new("phrase in any path of details", 1.0))
    }
}

/// The JSON term of `word` at `path` (path bytes ending with
/// [`END_OF_PATH`]).
fn path_term(field: Field, path: &[u8], word: &str) -> Term {
    let mut term = Term::from_field_json_path(field, "", false);
    term.truncate_value_bytes(0);
    term.append_bytes(path);
    term.append_type_and_str(word);
    term
}

/// Accepts the JSON term keys `<path> 0x00 s <word>` for any path.
#[derive(Debug)]
struct WordUnderAnyPath(Vec<u8>);

/// Where the automaton is in a key.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum State {
    /// In the path.
    Path,
    /// Right after the end of the path: the type code comes next.
    Type,
    /// This many bytes of the word matched.
    Word(usize),
    /// Cannot match any more.
    Dead,
}

impl Automaton for WordUnderAnyPath {
    type State = State;

    fn start(&self) -> State {
        State::Path
    }

    fn is_match(&self, state: &State) -> bool {
        *state == State::Word(self.0.len())
    }

    fn can_match(&self, state: &State) -> bool {
        *state != State::Dead
    }

    fn accept(&self, state: &State, byte: u8) -> State {
        match *state {
            State::Path if byte == END_OF_PATH => State::Type,
            State::Path => State::Path,
            State::Type if byte == STRING_TYPE => State::Word(0),
            State::Word(i) if self.0.get(i) == Some(&byte) => State::Word(i + 1),
            _ => State::Dead,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn accepts(word: &str, key: &[u8]) -> bool {
        let automaton = WordUnderAnyPath(word.as_bytes().to_vec());
        let state = key.iter().fold(automaton.start(), |state, &byte| {
            automaton.accept(&state, byte)
        });
        automaton.is_match(&state)
    }

    #[test]
    fn the_word_is_found_under_any_path_and_only_as_a_string() {
        assert!(accepts("main", b"branch\x00smain"));
        assert!(accepts("main", b"request\x01client\x01app\x00smain"));
        assert!(!accepts("main", b"branch\x00smainline"), "whole words");
        assert!(!accepts("main", b"branch\x00sdomain"));
        assert!(!accepts("main", b"main\x00sbranch"), "keys are not text");
        assert!(!accepts("42", b"count\x00i42"), "numbers are not text");
        assert!(!accepts("main", b"branch"), "no end of path");
    }
}
