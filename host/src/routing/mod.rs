//! Routes: a model alias over provider instances (`[routes.<alias>]`), as
//! the operator writes it and as it is checked against the instances that
//! exist (`config check` and start-up name an unknown one). Owns the
//! route's settings and their rules; the order of attempts and what a
//! failure leads to are `plan`'s. Knows nothing of HTTP or the store.

mod health;
mod plan;

use std::collections::BTreeMap;
use std::sync::{Arc, RwLock};

use llmhost_store::error_code::ErrorCode;
use serde::{Deserialize, Serialize};

pub(crate) use health::{CooldownSpec, Health, TargetHealth};
pub(crate) use plan::{Answered, Attempted, run, run_while};

/// How a route picks the target to try first.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub(crate) enum Strategy {
    /// The targets in the order listed.
    #[default]
    Fallback,
    /// The first target drawn by weight, then the others, drawn by weight
    /// from those left.
    Weighted,
    /// The fewest calls in flight in this process first.
    LeastBusy,
    /// The lowest average time to first token first (one not measured yet
    /// before any).
    Latency,
}

/// `[routes.<alias>]` as written.
#[derive(Clone, Debug, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct RouteSpec {
    #[serde(default)]
    pub(crate) strategy: Strategy,
    pub(crate) targets: Vec<TargetSpec>,
    /// The failures that move a request to the next target.
    #[serde(default = "default_fallback_on")]
    pub(crate) fallback_on: Vec<ErrorCode>,
    /// Where a request goes when a target answers
    /// `context_length_exceeded` (`<instance>/<model>`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub(crate) context_window_fallback: Option<String>,
    /// When a target is passed over after failures (`health`).
    #[serde(default)]
    pub(crate) cooldown: CooldownSpec,
}

#[derive(Clone, Debug, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct TargetSpec {
    /// `<instance>/<model>`.
    pub(crate) model: String,
    /// Used by `weighted`; `fallback` tries the targets in order.
    #[serde(default = "one")]
    pub(crate) weight: u32,
}

fn one() -> u32 {
    1
}

fn default_fallback_on() -> Vec<ErrorCode> {
    vec![
        ErrorCode::RateLimited,
        ErrorCode::UpstreamUnavailable,
        ErrorCode::Timeout,
        ErrorCode::UpstreamError,
    ]
}

/// Failures another target would repeat, or that are the caller's to fix:
/// never a reason to try elsewhere.
const NEVER_FALLBACK_ON: [(ErrorCode, &str); 6] = [
    (
        ErrorCode::InvalidRequest,
        "the caller's request is at fault",
    ),
    (ErrorCode::Unsupported, "the caller's request is at fault"),
    (
        ErrorCode::ContextLengthExceeded,
        "set context_window_fallback instead",
    ),
    (
        ErrorCode::ProviderNotFound,
        "a route's targets are checked at start-up",
    ),
    (ErrorCode::Cancelled, "the caller cancelled"),
    (ErrorCode::LeaseExpired, "not an answer of the target"),
];

/// One target: an instance and the model asked of it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct Target {
    pub(crate) instance: String,
    pub(crate) model: String,
    pub(crate) weight: u32,
}

impl Target {
    /// `<instance>/<model>`: what `x-llmhost-target` and attempts show.
    pub(crate) fn label(&self) -> String {
        format!("{}/{}", self.instance, self.model)
    }
}

/// A checked route.
#[derive(Clone, Debug)]
pub(crate) struct Route {
    pub(crate) name: String,
    pub(crate) strategy: Strategy,
    pub(crate) targets: Vec<Target>,
    pub(crate) fallback_on: Vec<ErrorCode>,
    pub(crate) context_window_fallback: Option<Target>,
    pub(crate) cooldown: CooldownSpec,
}

/// Every checked route, by alias.
#[derive(Clone, Debug, Default)]
pub(crate) struct Routes(BTreeMap<String, Route>);

impl Routes {
    /// Checks every route against the instances that exist; the error names
    /// the route, the key and what is wrong.
    pub(crate) fn build(
        specs: &BTreeMap<String, RouteSpec>,
        instances: &[String],
    ) -> Result<Self, String> {
        let mut routes = BTreeMap::new();
        for (name, spec) in specs {
            let route = spec
                .check(name, instances)
                .map_err(|problem| format!("routes.{name}: {problem}"))?;
            routes.insert(name.clone(), route);
        }
        Ok(Self(routes))
    }

    pub(crate) fn get(&self, alias: &str) -> Option<&Route> {
        self.0.get(alias)
    }

    pub(crate) fn names(&self) -> Vec<String> {
        self.0.keys().cloned().collect()
    }

    /// Every route, by alias.
    pub(crate) fn iter(&self) -> impl Iterator<Item = &Route> {
        self.0.values()
    }
}

/// The routes in force: replaced whole when the configuration is reloaded.
/// A request takes the set it began with (`current`) and keeps it to its
/// end, so a reload never changes a walk under way.
#[derive(Clone, Default)]
pub(crate) struct LiveRoutes(Arc<RwLock<Arc<Routes>>>);

impl LiveRoutes {
    pub(crate) fn new(routes: Routes) -> Self {
        Self(Arc::new(RwLock::new(Arc::new(routes))))
    }

    pub(crate) fn current(&self) -> Arc<Routes> {
        self.0.read().unwrap_or_else(|e| e.into_inner()).clone()
    }

    pub(crate) fn replace(&self, routes: Routes) {
        *self.0.write().unwrap_or_else(|e| e.into_inner()) = Arc::new(routes);
    }
}

impl RouteSpec {
    fn check(&self, name: &str, instances: &[String]) -> Result<Route, String> {
        llmhost_runtime::check_instance_name(name).map_err(|e| format!("the alias {e}"))?;
        if self.targets.is_empty() {
            return Err("targets: must name at least one target".into());
        }
        let targets = self
            .targets
            .iter()
            .map(|t| {
                if t.weight == 0 {
                    return Err(format!("targets: {:?}: weight must be at least 1", t.model));
                }
                target(&t.model, t.weight, instances).map_err(|e| format!("targets: {e}"))
            })
            .collect::<Result<Vec<_>, _>>()?;
        for code in &self.fallback_on {
            if let Some((_, why)) = NEVER_FALLBACK_ON.iter().find(|(c, _)| c == code) {
                return Err(format!(
                    "fallback_on: {} is never retried on another target: {why}",
                    code.as_str()
                ));
            }
        }
        self.cooldown.check()?;
        let context_window_fallback = self
            .context_window_fallback
            .as_deref()
            .map(|model| target(model, 1, instances))
            .transpose()
            .map_err(|e| format!("context_window_fallback: {e}"))?;
        Ok(Route {
            name: name.to_owned(),
            strategy: self.strategy,
            targets,
            fallback_on: self.fallback_on.clone(),
            context_window_fallback,
            cooldown: self.cooldown,
        })
    }
}

/// `<instance>/<model>`, the instance one that exists.
fn target(model: &str, weight: u32, instances: &[String]) -> Result<Target, String> {
    let (instance, name) = model
        .split_once('/')
        .filter(|(i, m)| !i.is_empty() && !m.is_empty())
        .ok_or_else(|| format!("{model:?}: expected \"<instance>/<model>\""))?;
    if !instances.iter().any(|i| i == instance) {
        return Err(format!(
            "{model:?}: no provider instance {instance:?} (instances: {})",
            instances.join(", ")
        ));
    }
    Ok(Target {
        instance: instance.to_owned(),
        model: name.to_owned(),
        weight,
    })
}

#[cfg(test)]
mod tests;
