//! The price table (`[prices."<provider>/<model>"]` in the configuration)
//! and an attempt's cost from its usage, in integer nano-dollars so that
//! the ledger's sums are exact. Keys are patterns where `*` matches any
//! characters (`openai/*`), the same patterns a tenant key's scope uses;
//! the most specific entry wins (no `*` before any, then the longest), so
//! one model's price overrides its provider's.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use llmhost_store::task::TaskResult;

/// The most a price may be, per million tokens: far above any real one.
const MAX_PER_MTOK: f64 = 1e6;

/// One entry: US dollars per million tokens.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct Price {
    pub(crate) input_per_mtok: f64,
    pub(crate) output_per_mtok: f64,
    /// Input tokens served from the upstream's prompt cache; unset: the
    /// input price.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub(crate) cached_input_per_mtok: Option<f64>,
}

/// The table, most specific entry first.
#[derive(Clone, Debug, Default)]
pub(crate) struct Prices(Vec<(String, Price)>);

impl Prices {
    pub(crate) fn new(table: &BTreeMap<String, Price>) -> Self {
        let mut entries: Vec<(String, Price)> =
            table.iter().map(|(k, v)| (k.clone(), v.clone())).collect();
        entries
            .sort_by_key(|(pattern, _)| (pattern.contains('*'), std::cmp::Reverse(pattern.len())));
        Self(entries)
    }

    /// Checks every entry: what `config check` and `serve` refuse.
    pub(crate) fn check(table: &BTreeMap<String, Price>) -> Result<(), String> {
        for (pattern, price) in table {
            if pattern.is_empty() || pattern.chars().any(char::is_whitespace) {
                return Err(format!(
                    "prices.{pattern:?}: not a <provider>/<model> pattern"
                ));
            }
            let fields = [
                ("input_per_mtok", Some(price.input_per_mtok)),
                ("output_per_mtok", Some(price.output_per_mtok)),
                ("cached_input_per_mtok", price.cached_input_per_mtok),
            ];
            for (field, value) in fields {
                if let Some(v) = value
                    && !(v.is_finite() && (0.0..=MAX_PER_MTOK).contains(&v))
                {
                    return Err(format!(
                        "prices.{pattern:?}.{field}: must be from 0 to {MAX_PER_MTOK} (US dollars per million tokens)"
                    ));
                }
            }
        }
        Ok(())
    }

    fn find(&self, provider: &str, model: &str) -> Option<&Price> {
        let name = format!("{provider}/{model}");
        self.0
            .iter()
            .find(|(pattern, _)| pattern_matches(pattern, &name))
            .map(|(_, price)| price)
    }

    /// What these tokens of `provider`'s `model` cost, in nano-dollars;
    /// `None` without a price.
    pub(crate) fn cost_nanousd(
        &self,
        provider: &str,
        model: &str,
        input: u64,
        cached: u64,
        output: u64,
    ) -> Option<i64> {
        let price = self.find(provider, model)?;
        let cached = cached.min(input);
        // Per million tokens in dollars is per token in micro-dollars:
        // times 1000 in nano-dollars.
        let nano = (input - cached) as f64 * price.input_per_mtok * 1000.0
            + cached as f64 * price.cached_input_per_mtok.unwrap_or(price.input_per_mtok) * 1000.0
            + output as f64 * price.output_per_mtok * 1000.0;
        Some(nano.round() as i64)
    }

    /// Writes the attempt's cost into its usage (`usage.cost_usd` in the
    /// JSON), which the ledger records with the completion.
    pub(crate) fn price(&self, provider: &str, model: &str, result: &mut TaskResult) {
        let Some(usage) = result.usage.as_mut() else {
            return;
        };
        usage.cost_nanousd = self
            .cost_nanousd(
                provider,
                model,
                u64::from(usage.input_tokens),
                u64::from(usage.cached_input_tokens.unwrap_or(0)),
                u64::from(usage.output_tokens),
            )
            .and_then(|nano| std::num::NonZeroU64::new(u64::try_from(nano).unwrap_or(0)));
    }
}

/// `*` matches any run of characters (`/` included); everything else
/// matches itself.
pub(crate) fn pattern_matches(pattern: &str, name: &str) -> bool {
    let mut parts = pattern.split('*');
    let first = parts.next().unwrap_or_default();
    let Some(mut rest) = name.strip_prefix(first) else {
        return false;
    };
    let parts: Vec<&str> = parts.collect();
    let Some((last, middle)) = parts.split_last() else {
        return rest.is_empty();
    };
    for part in middle {
        match rest.find(part) {
            Some(at) => rest = &rest[at + part.len()..],
            None => return false,
        }
    }
    rest.len() >= last.len() && rest.ends_with(last)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_star_matches_any_run_of_characters() {
        assert!(pattern_matches("openai/*", "openai/gpt-4o"));
        assert!(pattern_matches("openai/*", "openai/"));
        assert!(!pattern_matches("openai/*", "anthropic/claude"));
        assert!(pattern_matches("smart", "smart"));
        assert!(!pattern_matches("smart", "smarter"));
        assert!(pattern_matches("*/gpt-*-mini", "openai/gpt-4o-mini"));
        assert!(!pattern_matches("*/gpt-*-mini", "openai/gpt-4o"));
        assert!(pattern_matches("*", "anything/at-all"));
        assert!(pattern_matches("a*a", "aa"));
        assert!(!pattern_matches("a*a", "a"));
    }

    fn price(input: f64, output: f64) -> Price {
        Price {
            input_per_mtok: input,
            output_per_mtok: output,
            cached_input_per_mtok: None,
        }
    }

    #[test]
    fn the_most_specific_price_wins_and_costs_are_nano_dollars() {
        let table = BTreeMap::from([
            ("openai/*".to_owned(), price(1.0, 2.0)),
            ("openai/gpt-4o".to_owned(), price(2.5, 10.0)),
            ("*".to_owned(), price(100.0, 100.0)),
        ]);
        let prices = Prices::new(&table);
        // 1000 in at $2.5/M = $0.0025, 100 out at $10/M = $0.001.
        assert_eq!(
            prices.cost_nanousd("openai", "gpt-4o", 1000, 0, 100),
            Some(3_500_000)
        );
        assert_eq!(
            prices.cost_nanousd("openai", "o1", 1000, 0, 0),
            Some(1_000_000)
        );
        assert_eq!(prices.cost_nanousd("echo", "echo", 1, 0, 0), Some(100_000));
        assert_eq!(
            Prices::default().cost_nanousd("echo", "echo", 1, 0, 0),
            None
        );
        let cached = Prices::new(&BTreeMap::from([(
            "a/b".to_owned(),
            Price {
                cached_input_per_mtok: Some(0.5),
                ..price(1.0, 0.0)
            },
        )]));
        assert_eq!(cached.cost_nanousd("a", "b", 1000, 400, 0), Some(800_000));
    }

    #[test]
    fn a_negative_or_endless_price_is_refused_naming_it() {
        let bad = BTreeMap::from([("a/b".to_owned(), price(-1.0, 0.0))]);
        assert!(Prices::check(&bad).unwrap_err().contains("input_per_mtok"));
        let bad = BTreeMap::from([("a/b".to_owned(), price(1.0, f64::INFINITY))]);
        assert!(Prices::check(&bad).unwrap_err().contains("output_per_mtok"));
    }
}
