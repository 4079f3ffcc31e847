//! Text to vectors, for matching questions by meaning (the [`ReplyCache`](crate::ReplyCache)'s
//! semantic mode): [`TitanEmbedder`](crate::TitanEmbedder) on Bedrock, or one of your own.

use async_trait::async_trait;

use crate::error::Result;

/// Turns a text into a vector whose cosine with another text's says how close their meanings
/// are. One attempt per call, as [`ModelClient`](crate::ModelClient)'s methods.
#[async_trait]
pub trait Embedder: Send + Sync {
    /// The vector of `text`.
    async fn embed(&self, text: &str) -> Result<Vec<f32>>;
}

/// The cosine of two vectors: 1 for the same direction, 0 for unrelated; 0 when either is zero
/// or their lengths differ.
pub fn cosine(a: &[f32], b: &[f32]) -> f32 {
    if a.len() != b.len() || a.is_empty() {
        return 0.0;
    }
    let (mut dot, mut aa, mut bb) = (0f32, 0f32, 0f32);
    for (x, y) in a.iter().zip(b) {
        dot += x * y;
        aa += x * x;
        bb += y * y;
    }
    if aa == 0.0 || bb == 0.0 {
        return 0.0;
    }
    dot / (aa.sqrt() * bb.sqrt())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cosines() {
        assert!((cosine(&[1.0, 0.0], &[2.0, 0.0]) - 1.0).abs() < 1e-6);
        assert!(cosine(&[1.0, 0.0], &[0.0, 1.0]).abs() < 1e-6);
        assert_eq!(cosine(&[0.0, 0.0], &[1.0, 0.0]), 0.0);
        assert_eq!(cosine(&[1.0], &[1.0, 0.0]), 0.0);
    }
}
