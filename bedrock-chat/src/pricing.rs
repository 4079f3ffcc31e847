//! What a conversation costs: prices per model, and cost from token usage.

use std::path::Path;
use std::sync::{Arc, LazyLock};

use serde::{Deserialize, Serialize};

use crate::error::{Error, Result};
use crate::response::TokenUsage;
use crate::tier::{Latency, ServiceTier};

/// When the built-in prices were taken: Amazon Bedrock's published on-demand prices for
/// Anthropic's Claude models in US regions, as of this month. Prices change and differ by
/// region and by inference profile; override them with [`PriceTable::with_price`] or a price
/// file ([`PriceTable::load`], `BEDROCK_PRICE_TABLE`).
pub const PRICES_AS_OF: &str = "2026-11";

/// The price of a model in US dollars per million tokens.
#[derive(Clone, Copy, Debug, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct ModelPrice {
    /// Input tokens.
    pub input: f64,
    /// Output tokens.
    pub output: f64,
    /// Input tokens read from the prompt cache.
    #[serde(default)]
    pub cache_read: f64,
    /// Input tokens written to the prompt cache.
    #[serde(default)]
    pub cache_write: f64,
}

impl ModelPrice {
    /// Input and output prices per million tokens; cache reads and writes cost nothing.
    pub const fn new(input: f64, output: f64) -> Self {
        ModelPrice {
            input,
            output,
            cache_read: 0.0,
            cache_write: 0.0,
        }
    }

    /// Sets the cache read and write prices per million tokens. Default is 0.
    #[must_use]
    pub const fn with_cache(mut self, read: f64, write: f64) -> Self {
        self.cache_read = read;
        self.cache_write = write;
        self
    }

    /// The cost of `usage` in US dollars.
    pub fn cost(&self, usage: &TokenUsage) -> f64 {
        let per_token = |price: f64, tokens: u64| price * tokens as f64 / 1_000_000.0;
        let writes = usage.cache_write_input_tokens.unwrap_or(0);
        let long_writes = usage.cache_write_1h_input_tokens.unwrap_or(0).min(writes);
        let cost = per_token(self.input, usage.input_tokens)
            + per_token(self.output, usage.output_tokens)
            + per_token(self.cache_read, usage.cache_read_input_tokens.unwrap_or(0))
            + per_token(self.cache_write, writes - long_writes)
            + per_token(self.input * LONG_CACHE_WRITE_FACTOR, long_writes);
        cost * usage.service_tier.map_or(1.0, ServiceTier::price_factor)
            * usage.latency.map_or(1.0, Latency::price_factor)
    }

    fn validate(&self, model: &str) -> Result<()> {
        let prices = [self.input, self.output, self.cache_read, self.cache_write];
        if prices.iter().all(|p| p.is_finite() && *p >= 0.0) {
            Ok(())
        } else {
            Err(Error::config(format!(
                "the price of {model} must be made of numbers of at least 0"
            )))
        }
    }
}

/// Prices per model. A model id is matched against each entry in order, the caller's own
/// entries first: an entry matches when it equals the id, or when the id without its inference
/// profile prefix (`us.`, `eu.`, `apac.`, `global.`, ...) contains it. So the built-in entry
/// `claude-sonnet-4` prices `global.anthropic.claude-sonnet-4-6` and
/// `anthropic.claude-sonnet-4-5-20250929-v1:0` alike.
///
/// ```
/// use bedrock_chat::{ModelPrice, PriceTable, TokenUsage};
///
/// let prices = PriceTable::builtin().with_price("my-custom-model", ModelPrice::new(1.0, 2.0));
/// let usage = TokenUsage::new(1_000_000, 500_000);
/// let sonnet = prices.price_for("global.anthropic.claude-sonnet-4-5-20250929-v1:0").unwrap();
/// assert_eq!(sonnet.cost(&usage), 3.0 + 7.5);
/// // A regional profile of the newest models costs 10% more.
/// let regional = prices.price_for("us.anthropic.claude-sonnet-4-5-20250929-v1:0").unwrap();
/// assert!((regional.cost(&usage) - 1.1 * (3.0 + 7.5)).abs() < 1e-9);
/// assert_eq!(prices.price_for("my-custom-model").unwrap().cost(&usage), 2.0);
/// ```
#[derive(Clone, Debug, PartialEq)]
pub struct PriceTable {
    // Shared: every session holds a table, and most hold the built-in one unchanged.
    entries: Arc<Vec<(String, ModelPrice)>>,
}

static BUILTIN: LazyLock<PriceTable> = LazyLock::new(|| {
    let entries = [
        (
            "claude-opus-4-5",
            ModelPrice::new(5.0, 25.0).with_cache(0.50, 6.25),
        ),
        (
            "claude-opus-4",
            ModelPrice::new(15.0, 75.0).with_cache(1.50, 18.75),
        ),
        (
            "claude-sonnet-4",
            ModelPrice::new(3.0, 15.0).with_cache(0.30, 3.75),
        ),
        (
            "claude-haiku-4-5",
            ModelPrice::new(1.0, 5.0).with_cache(0.10, 1.25),
        ),
        (
            "claude-3-7-sonnet",
            ModelPrice::new(3.0, 15.0).with_cache(0.30, 3.75),
        ),
        (
            "claude-3-5-sonnet",
            ModelPrice::new(3.0, 15.0).with_cache(0.30, 3.75),
        ),
        (
            "claude-3-5-haiku",
            ModelPrice::new(0.80, 4.0).with_cache(0.08, 1.0),
        ),
        (
            "claude-3-opus",
            ModelPrice::new(15.0, 75.0).with_cache(1.50, 18.75),
        ),
        (
            "claude-3-haiku",
            ModelPrice::new(0.25, 1.25).with_cache(0.03, 0.30),
        ),
    ];
    PriceTable {
        entries: Arc::new(
            entries
                .into_iter()
                .map(|(pattern, price)| (pattern.to_string(), price))
                .collect(),
        ),
    }
});

impl Default for PriceTable {
    fn default() -> Self {
        Self::builtin()
    }
}

impl PriceTable {
    /// The built-in prices for Claude models on Bedrock, as of [`PRICES_AS_OF`].
    pub fn builtin() -> Self {
        BUILTIN.clone()
    }

    /// A table with no prices.
    pub fn empty() -> Self {
        PriceTable {
            entries: Arc::default(),
        }
    }

    /// Adds a price that takes precedence over every entry already in the table.
    #[must_use]
    pub fn with_price(mut self, model: impl Into<String>, price: ModelPrice) -> Self {
        Arc::make_mut(&mut self.entries).insert(0, (model.into(), price));
        self
    }

    /// The built-in prices overridden by a JSON file of the form
    /// `{"model or pattern": {"input": 3.0, "output": 15.0, "cacheRead": 0.3, "cacheWrite": 3.75}}`
    /// (US dollars per million tokens).
    ///
    /// # Errors
    ///
    /// [`Error::Config`] naming the price file when it cannot be read or holds something other than
    /// prices.
    pub fn load(path: &Path) -> Result<Self> {
        let text = std::fs::read_to_string(path).map_err(|e| Error::Config {
            message: format!("cannot read the price file {}", path.display()),
            source: Some(e.into()),
        })?;
        Self::builtin().merge_json(&text).map_err(|e| match e {
            Error::Config { message, source } => Error::Config {
                message: format!("{}: {message}", path.display()),
                source,
            },
            other => other,
        })
    }

    /// This table overridden by the prices in a JSON object (see [`load`](Self::load)).
    ///
    /// # Errors
    ///
    /// [`Error::Config`] when the JSON is not a map of model names to prices of at least 0.
    pub fn merge_json(mut self, json: &str) -> Result<Self> {
        let prices: std::collections::BTreeMap<String, ModelPrice> = serde_json::from_str(json)
            .map_err(|e| Error::Config {
                message: "the price table is not a JSON object of model prices \
                          ({\"model\": {\"input\": 3.0, \"output\": 15.0}})"
                    .to_string(),
                source: Some(e.into()),
            })?;
        for (model, price) in prices.into_iter().rev() {
            price.validate(&model)?;
            self = self.with_price(model, price);
        }
        Ok(self)
    }

    /// The price of a model, if the table has one.
    pub fn price_for(&self, model_id: &str) -> Option<ModelPrice> {
        let bare = strip_profile(model_id);
        let (pattern, price) = self
            .entries
            .iter()
            .find(|(pattern, _)| pattern == model_id || bare.contains(pattern.as_str()))?;
        // The table holds global-profile prices; for the newest models a regional profile
        // (`us.`, `eu.`, `apac.`, ...) costs 10% more. An exact id in the table is its own price.
        let regional = bare.len() < model_id.len() && !model_id.starts_with("global.");
        if regional
            && pattern != model_id
            && REGIONAL_PREMIUM_MODELS.iter().any(|m| bare.contains(m))
        {
            return Some(price.scaled(REGIONAL_PREMIUM));
        }
        Some(*price)
    }
}

/// What a prompt-cache write kept for an hour costs, as a multiple of an input token (a
/// five-minute write is 1.25).
const LONG_CACHE_WRITE_FACTOR: f64 = 2.0;

/// Models whose regional inference profiles cost more than their global one.
const REGIONAL_PREMIUM_MODELS: [&str; 4] = [
    "claude-sonnet-4-5",
    "claude-sonnet-4-6",
    "claude-haiku-4-5",
    "claude-opus-4-5",
];

/// How much more a regional profile of those models costs.
const REGIONAL_PREMIUM: f64 = 1.1;

impl ModelPrice {
    /// The price as people compare them: `$3/$15`, per million input and output tokens.
    pub fn label(&self) -> String {
        let usd = |v: f64| {
            let text = format!("{v:.2}");
            format!("${}", text.trim_end_matches('0').trim_end_matches('.'))
        };
        format!("{}/{}", usd(self.input), usd(self.output))
    }

    fn scaled(self, factor: f64) -> Self {
        // Rounded to a millionth of a dollar per million tokens: `3.0 * 1.1` is
        // 3.3000000000000003, which a price listing would show.
        let scale = |price: f64| (price * factor * 1e6).round() / 1e6;
        ModelPrice {
            input: scale(self.input),
            output: scale(self.output),
            cache_read: scale(self.cache_read),
            cache_write: scale(self.cache_write),
        }
    }
}

/// `us.anthropic.claude-...` to `anthropic.claude-...`.
pub(crate) fn strip_profile(model_id: &str) -> &str {
    match model_id.split_once('.') {
        Some((prefix, rest))
            if prefix.len() <= 6
                && prefix.bytes().all(|b| b.is_ascii_lowercase())
                && rest.contains('.') =>
        {
            rest
        }
        _ => model_id,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn profiles_and_versions_find_their_model_price() {
        let table = PriceTable::builtin();
        let sonnet = Some(ModelPrice::new(3.0, 15.0).with_cache(0.30, 3.75));
        assert_eq!(
            table.price_for("global.anthropic.claude-sonnet-4-6"),
            sonnet
        );
        assert_eq!(
            table.price_for("anthropic.claude-sonnet-4-5-20250929-v1:0"),
            sonnet
        );
        // Regional profiles of the newest models cost 10% more than the global one.
        let regional = table.price_for("eu.anthropic.claude-sonnet-4-6").unwrap();
        assert!((regional.input - 3.3).abs() < 1e-9 && (regional.output - 16.5).abs() < 1e-9);
        assert!(
            (table
                .price_for("us.anthropic.claude-opus-4-5-20251101-v1:0")
                .unwrap()
                .input
                - 5.5)
                .abs()
                < 1e-9
        );
        assert_eq!(
            table
                .price_for("us.anthropic.claude-3-7-sonnet-20250219-v1:0")
                .map(|p| p.input),
            Some(3.0),
            "older models have no regional premium"
        );
        assert_eq!(
            table
                .price_for("anthropic.claude-opus-4-1-20250805-v1:0")
                .map(|p| p.input),
            Some(15.0)
        );
        assert_eq!(table.price_for("amazon.nova-pro-v1:0"), None);
    }

    #[test]
    fn cost_arithmetic_covers_every_kind_of_token() {
        let price = ModelPrice::new(3.0, 15.0).with_cache(0.30, 3.75);
        let usage = TokenUsage::new(2_000, 1_000).with_cache(Some(10_000), Some(4_000));
        // 2k x $3 + 1k x $15 + 10k x $0.30 + 4k x $3.75, per million.
        let expected = (2_000.0 * 3.0 + 1_000.0 * 15.0 + 10_000.0 * 0.30 + 4_000.0 * 3.75) / 1e6;
        assert!((price.cost(&usage) - expected).abs() < 1e-12);
        assert_eq!(expected, 0.039);
    }

    #[test]
    fn hour_long_cache_writes_tiers_and_latency_are_priced() {
        let price = ModelPrice::new(3.0, 15.0).with_cache(0.30, 3.75);
        // 4k writes, 1k of them for an hour: 3k x $3.75 + 1k x $6.
        let usage = TokenUsage::new(0, 0)
            .with_cache(None, Some(4_000))
            .with_long_cache_writes(Some(1_000));
        assert!((price.cost(&usage) - (3_000.0 * 3.75 + 1_000.0 * 6.0) / 1e6).abs() < 1e-12);
        let plain = TokenUsage::new(1_000_000, 0);
        for (tier, latency, usd) in [
            (None, None, 3.0),
            (Some(ServiceTier::Flex), None, 1.5),
            (Some(ServiceTier::Priority), None, 5.25),
            (Some(ServiceTier::Default), Some(Latency::Optimized), 3.75),
        ] {
            let cost = price.cost(&plain.with_serving(tier, latency));
            assert!((cost - usd).abs() < 1e-9, "{tier:?} {latency:?}: {cost}");
        }
    }

    #[test]
    fn a_price_file_overrides_the_builtin_prices() {
        let table = PriceTable::builtin()
            .merge_json(r#"{"claude-sonnet-4": {"input": 3.3, "output": 16.5}}"#)
            .unwrap();
        assert_eq!(
            table
                .price_for("global.anthropic.claude-sonnet-4-6")
                .map(|p| p.input),
            Some(3.3)
        );
        assert!(
            PriceTable::builtin()
                .merge_json(r#"{"m": {"input": -1, "output": 1}}"#)
                .is_err()
        );
        assert!(PriceTable::builtin().merge_json("[1, 2]").is_err());
    }
}
