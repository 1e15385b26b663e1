//! End-to-end tests: the real `llmhost` binary, its bundled plugins and its
//! database, driven over real HTTP.

mod auth;
mod availability;
mod capabilities;
mod config;
mod conformance;
mod connection_reuse;
mod connections;
mod contract;
mod control;
mod dashboard;
mod deployments;
mod error_surfaces;
mod error_table;
mod events;
mod freeze_proxy;
mod harness;
mod instances;
mod langchain;
mod lifecycle;
mod load;
mod metrics;
mod mock_vendors;
mod multinode;
mod openai_compat;
mod openai_sdk;
mod openapi;
mod plugin_kit;
mod plugin_watch;
mod provider_streams;
mod provider_tools;
mod providers;
mod reload_config;
mod restart;
mod routes;
mod sandbox;
mod shutdown;
mod store_outage;
mod task_routes;
mod tenants;
mod upstream;
mod validation;

/// The test plugins (`crates/test-plugins`), one path constant each. Dead
/// code is an error here: a test plugin that no test runs does not compile.
#[deny(dead_code)]
mod test_plugin {
    macro_rules! path {
        ($name:ident) => {
            pub(crate) const $name: &str = test_plugins::$name;
        };
    }
    test_plugins::foreach_test_plugin!(path);
}
