//! A store-wide cache of decoded, chain-checked sealed blocks, bounded in
//! bytes, so that searches that fetch records scattered over a segment pay
//! for decompression and hashing once per block rather than once per hit.
//!
//! Keys are a segment's process-unique id and a block number, so a segment
//! replaced by another file with the same seqs never sees the old blocks.
//! An entry may hold only the start of its block (a read that stopped at
//! the record it wanted); it is served only for the records it holds, and
//! replaced by a longer read for the others.

use std::sync::Arc;

use quick_cache::Weighter;
use quick_cache::sync::Cache;

use super::SealedSegment;
use super::block::DecodedBlock;
use crate::error::Result;

/// A decoded, chain-checked block.
pub type Block = Arc<DecodedBlock>;

/// Bytes cached by default.
pub const DEFAULT_CACHE_BYTES: u64 = 256 << 20;

#[derive(Debug, Clone, Copy)]
struct BlockWeight;

impl Weighter<(u64, usize), Block> for BlockWeight {
    fn weight(&self, _: &(u64, usize), block: &Block) -> u64 {
        block.weight().max(1)
    }
}

/// The cache.
pub struct BlockCache {
    blocks: Cache<(u64, usize), Block, BlockWeight>,
}

impl std::fmt::Debug for BlockCache {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("BlockCache")
            .field("bytes", &self.blocks.weight())
            .field("blocks", &self.blocks.len())
            .finish()
    }
}

impl BlockCache {
    /// A cache holding about `bytes` of decoded records (0 disables it).
    pub fn new(bytes: u64) -> BlockCache {
        // Blocks decode to about 128 KiB by default.
        let estimated = (bytes / (128 << 10)).max(16) as usize;
        BlockCache {
            blocks: Cache::with_weighter(estimated, bytes, BlockWeight),
        }
    }

    /// Block `i` of `segment`, decoded and checked at least as far as the
    /// record at `seq`: from the cache, or read (replacing a cached start
    /// of the block that ends before `seq`).
    ///
    /// # Errors
    /// As [`SealedSegment::decoded_block`]; failures are not cached.
    pub fn block(&self, segment: &SealedSegment, i: usize, seq: u64) -> Result<Block> {
        let key = (segment.uid(), i);
        if let Some(block) = self.blocks.get(&key).filter(|b| b.holds(seq)) {
            return Ok(block);
        }
        let block = Arc::new(segment.decoded_block(i, seq)?);
        self.blocks.insert(key, block.clone());
        Ok(block)
    }

    /// Whether block `i` of `segment` is cached decoded at least as far as
    /// the record at `seq` (reading it then decodes nothing).
    pub fn holds(&self, segment: &SealedSegment, i: usize, seq: u64) -> bool {
        self.blocks
            .peek(&(segment.uid(), i))
            .is_some_and(|b| b.holds(seq))
    }
}
