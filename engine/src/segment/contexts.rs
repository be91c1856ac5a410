//! zstd decompression contexts, kept for reuse by every sealed segment.
//!
//! Creating a decompression context for each block read took about a
//! twelfth of a cold block's read time (docs/performance.md, "Where a cold
//! block's time goes"): a context is some 94 KiB of buffers, fresh memory
//! each time. Reads therefore borrow a context from a process-wide pool of
//! at most [`KEPT`] idle ones, point it at their segment's prepared
//! dictionary for the one decode, and give it back.
//!
//! Invariant: a context in a pool references no dictionary. A borrowed
//! context references the dictionary of the read that borrowed it, which
//! outlives the borrow; it goes back to the pool only after a reset of its
//! session and parameters, which drops that reference and ends whatever the
//! decode left unfinished (a read that stopped mid-frame, or failed). A
//! context whose reset fails is dropped instead.

use parking_lot::Mutex;
use zstd::dict::DecoderDictionary;
use zstd::zstd_safe::{DCtx, DDict, DParameter, ResetDirective};

/// Idle contexts kept at most: enough for the read pool and the searches
/// reading on their own threads at once, about 750 KiB in all.
const KEPT: usize = 8;

/// The pool every sealed segment's reads borrow from.
static SHARED: Contexts = Contexts::new();

/// Idle decompression contexts, none referencing a dictionary.
struct Contexts {
    idle: Mutex<Vec<DCtx<'static>>>,
}

impl Contexts {
    const fn new() -> Contexts {
        Contexts {
            idle: Mutex::new(Vec::new()),
        }
    }

    /// [`with_context`] on this pool.
    fn with<R>(
        &self,
        dictionary: &DecoderDictionary<'_>,
        decode: impl FnOnce(&mut DCtx<'_>) -> Result<R, usize>,
    ) -> Result<R, usize> {
        let mut dctx = self.idle.lock().pop().unwrap_or_else(DCtx::create);
        // SAFETY: the reference is extended only for `ref_ddict`'s
        // signature; `dctx` uses the dictionary only until the reset below
        // or its drop, both within this call, while `dictionary` is
        // borrowed. `decode` gets the context under a lifetime of its own,
        // so it cannot keep it.
        let ddict: &'static DDict<'static> =
            unsafe { &*std::ptr::from_ref(dictionary.as_ddict()).cast::<DDict<'static>>() };
        let result = dctx
            .ref_ddict(ddict)
            .and_then(|_| dctx.set_parameter(DParameter::StableOutBuffer(true)))
            .and_then(|_| decode(&mut dctx));
        if dctx.reset(ResetDirective::SessionAndParameters).is_ok() {
            let mut idle = self.idle.lock();
            if idle.len() < KEPT {
                idle.push(dctx);
            }
        }
        result
    }
}

/// Runs `decode` with a context that decompresses with `dictionary` and
/// decodes into the caller's output buffer itself (`StableOutBuffer`: the
/// buffer must not move or grow between the calls of one frame). An `Err`
/// carries zstd's error code.
pub(super) fn with_context<R>(
    dictionary: &DecoderDictionary<'_>,
    decode: impl FnOnce(&mut DCtx<'_>) -> Result<R, usize>,
) -> Result<R, usize> {
    SHARED.with(dictionary, decode)
}

#[cfg(test)]
mod tests {
    use zstd::zstd_safe::{InBuffer, OutBuffer};

    use super::*;

    /// `text` compressed with the raw-content dictionary `dictionary`.
    fn compress(text: &[u8], dictionary: &[u8]) -> Vec<u8> {
        zstd::bulk::Compressor::with_dictionary(3, dictionary)
            .unwrap()
            .compress(text)
            .unwrap()
    }

    /// A frame decoded whole with a context of `pool`, streaming as the
    /// reads of a block's start do (a one-shot decode would not notice a
    /// stream left open).
    fn decode_whole(
        pool: &Contexts,
        dictionary: &DecoderDictionary<'_>,
        frame: &[u8],
        len: usize,
    ) -> Result<Vec<u8>, usize> {
        pool.with(dictionary, |dctx| {
            let mut out = Vec::with_capacity(len);
            let mut input = InBuffer::around(frame);
            let mut output = OutBuffer::around(&mut out);
            loop {
                let remaining = dctx.decompress_stream(&mut output, &mut input)?;
                if remaining == 0 || input.pos() == frame.len() {
                    return Ok(out);
                }
            }
        })
    }

    /// One context serves reads of frames with different dictionaries in
    /// turn, after a read that stopped in the middle of a frame and after
    /// one that failed, each decoding as a fresh context would.
    #[test]
    fn a_context_comes_back_clean_after_a_partial_or_failed_read() {
        let pool = Contexts::new();
        let text = |who: &str| -> Vec<u8> {
            (0..100_000u64)
                .flat_map(|n| {
                    format!("{who}-{:x} ", n.wrapping_mul(0x9E37_79B9_7F4A_7C15) >> 44).into_bytes()
                })
                .collect()
        };
        let (text_a, text_b) = (text("alice"), text("bob"));
        let (raw_a, raw_b) = (&text_a[..4096], &text_b[..4096]);
        let (dict_a, dict_b) = (
            DecoderDictionary::copy(raw_a),
            DecoderDictionary::copy(raw_b),
        );
        let (frame_a, frame_b) = (compress(&text_a, raw_a), compress(&text_b, raw_b));

        let started = pool
            .with(&dict_a, |dctx| {
                let mut out = Vec::with_capacity(text_a.len());
                let mut input = InBuffer::around(&frame_a[..frame_a.len() / 3]);
                let mut output = OutBuffer::around(&mut out);
                dctx.decompress_stream(&mut output, &mut input)?;
                Ok(out)
            })
            .unwrap();
        assert!(!started.is_empty() && started.len() < text_a.len());
        assert_eq!(started[..], text_a[..started.len()]);
        assert_eq!(pool.idle.lock().len(), 1, "the context went back");

        assert_eq!(
            decode_whole(&pool, &dict_b, &frame_b, text_b.len()).unwrap(),
            text_b
        );
        let mut garbled = frame_a.clone();
        garbled[..8].fill(0xFF);
        assert!(decode_whole(&pool, &dict_a, &garbled, text_a.len()).is_err());
        assert_eq!(
            decode_whole(&pool, &dict_a, &frame_a, text_a.len()).unwrap(),
            text_a
        );
        assert_eq!(pool.idle.lock().len(), 1, "one context served every read");
    }
}
