//! How Bedrock serves a request: its service tier, its latency profile and how long its prompt
//! cache lives. Each is passed through to Converse, reported back in
//! [`TokenUsage`](crate::TokenUsage) where Bedrock reports it, and priced.

use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Serialize};

use crate::error::Error;

/// Bedrock's service tier (`serviceTier`): what a request pays for speed and availability.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
#[non_exhaustive]
pub enum ServiceTier {
    /// Standard on-demand capacity.
    Default,
    /// Cheaper, for work that can wait: served after the other tiers (half the price).
    Flex,
    /// Served first, at a premium (three quarters more).
    Priority,
    /// Capacity reserved in advance (billed by the reservation; priced here as on demand).
    Reserved,
}

impl ServiceTier {
    /// What the tier's tokens cost against on-demand prices: Bedrock's flex tier is half the
    /// price, its priority tier 75% more.
    pub fn price_factor(self) -> f64 {
        match self {
            ServiceTier::Flex => 0.5,
            ServiceTier::Priority => 1.75,
            ServiceTier::Default | ServiceTier::Reserved => 1.0,
        }
    }

    /// The name Bedrock uses.
    pub fn as_str(self) -> &'static str {
        match self {
            ServiceTier::Default => "default",
            ServiceTier::Flex => "flex",
            ServiceTier::Priority => "priority",
            ServiceTier::Reserved => "reserved",
        }
    }
}

/// The latency profile (`performanceConfig.latency`).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
#[non_exhaustive]
pub enum Latency {
    /// The usual inference.
    Standard,
    /// Latency-optimised inference, on the models and regions that offer it, at a premium.
    Optimized,
}

impl Latency {
    /// What the profile's tokens cost against standard prices: latency-optimised inference is
    /// priced a quarter higher (Claude 3.5 Haiku: $1 and $5 per million against $0.80 and $4).
    pub fn price_factor(self) -> f64 {
        match self {
            Latency::Standard => 1.0,
            Latency::Optimized => 1.25,
        }
    }

    /// The name Bedrock uses.
    pub fn as_str(self) -> &'static str {
        match self {
            Latency::Standard => "standard",
            Latency::Optimized => "optimized",
        }
    }
}

/// How long a prompt-cache entry lives after its last use (`cachePoint.ttl`).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[non_exhaustive]
pub enum CacheTtl {
    /// Five minutes, the default; a write costs 1.25 times an input token.
    #[default]
    #[serde(rename = "5m")]
    FiveMinutes,
    /// One hour, for conversations with long pauses; a write costs twice an input token.
    #[serde(rename = "1h")]
    OneHour,
}

impl CacheTtl {
    /// The name Bedrock uses.
    pub fn as_str(self) -> &'static str {
        match self {
            CacheTtl::FiveMinutes => "5m",
            CacheTtl::OneHour => "1h",
        }
    }
}

macro_rules! named {
    ($type:ty, $what:literal, $($name:literal => $value:expr),+) => {
        impl FromStr for $type {
            type Err = Error;

            fn from_str(text: &str) -> Result<Self, Error> {
                match text.trim().to_ascii_lowercase().as_str() {
                    $($name => Ok($value),)+
                    _ => Err(Error::invalid_input(format!(
                        concat!("{:?} is not a ", $what, "; use {}"),
                        text,
                        [$($name),+].join(", ")
                    ))),
                }
            }
        }

        impl fmt::Display for $type {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str(self.as_str())
            }
        }
    };
}

named!(ServiceTier, "service tier", "default" => ServiceTier::Default, "flex" => ServiceTier::Flex,
    "priority" => ServiceTier::Priority, "reserved" => ServiceTier::Reserved);
named!(Latency, "latency profile", "standard" => Latency::Standard,
    "optimized" => Latency::Optimized);
named!(CacheTtl, "cache lifetime", "5m" => CacheTtl::FiveMinutes, "1h" => CacheTtl::OneHour);

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_read_back_as_they_print_and_bad_ones_list_the_choices() {
        for tier in [
            ServiceTier::Default,
            ServiceTier::Flex,
            ServiceTier::Priority,
        ] {
            assert_eq!(tier.to_string().parse::<ServiceTier>().unwrap(), tier);
        }
        assert_eq!("OPTIMIZED".parse::<Latency>().unwrap(), Latency::Optimized);
        assert_eq!("1h".parse::<CacheTtl>().unwrap(), CacheTtl::OneHour);
        let err = "fast".parse::<ServiceTier>().unwrap_err().to_string();
        assert!(err.contains("default, flex, priority, reserved"), "{err}");
    }
}
