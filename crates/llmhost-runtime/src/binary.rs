//! Tells a component from a core module (and from what is not WebAssembly)
//! by its header, before anything is compiled: a plugin built for
//! wasm32-wasip1 is a core module, and wasmtime's own words for it
//! ("attempted to parse a wasm module with a component parser") do not say
//! what to do.

/// `\0asm`, then the version and layer: a component's.
const COMPONENT_HEADER: [u8; 8] = *b"\0asm\x0d\x00\x01\x00";

/// The advice every refusal ends with.
const BUILD_FOR: &str = "build for wasm32-wasip2 (`cargo build --target wasm32-wasip2`)";

/// Refuses anything but a WebAssembly component, saying what it is instead.
pub(crate) fn check_component(bytes: &[u8]) -> anyhow::Result<()> {
    let header = bytes.get(..8);
    match header {
        Some(h) if h == COMPONENT_HEADER => Ok(()),
        Some(h) if h[..4] == *b"\0asm" && h[6..8] == [0, 0] => anyhow::bail!(
            "a core WebAssembly module, not a component (a wasm32-wasip1 or \
             wasm32-unknown-unknown build is one): {BUILD_FOR}"
        ),
        Some(h) if h[..4] == *b"\0asm" => anyhow::bail!(
            "a WebAssembly binary of an unknown version or layer ({:02x?}): {BUILD_FOR}",
            &h[4..]
        ),
        _ => anyhow::bail!("not a WebAssembly component (no `\\0asm` header): {BUILD_FOR}"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_component_passes() {
        check_component(b"\0asm\x0d\x00\x01\x00rest").unwrap();
    }

    #[test]
    fn a_core_module_is_told_to_build_for_wasip2() {
        let error = check_component(b"\0asm\x01\x00\x00\x00").unwrap_err();
        let text = error.to_string();
        assert!(text.starts_with("a core WebAssembly module"), "{text}");
        assert!(text.contains("build for wasm32-wasip2"), "{text}");
    }

    #[test]
    fn other_bytes_are_not_webassembly_and_say_what_to_build() {
        for bytes in [
            &b""[..],
            b"\0as",
            b"#!/bin/sh\necho\n",
            b"\0asm\x0e\x00\x01\x00",
        ] {
            let text = check_component(bytes).unwrap_err().to_string();
            assert!(
                text.contains("build for wasm32-wasip2"),
                "{bytes:?}: {text}"
            );
        }
    }
}
