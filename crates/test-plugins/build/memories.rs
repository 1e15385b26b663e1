//! Hostile components no Rust toolchain emits: a provider whose core module
//! declares several linear memories (the sandbox review's finding 1), built
//! here instruction by instruction (wasm-encoder) and wrapped as a contract
//! 0.2 component (wit-component), as a WAT file would be.
//!
//! `metadata` answers a fixed provider info; `complete` grows every memory
//! but the first by 1 MiB in turn, touching each page, until a growth is
//! refused, then traps. With more memories than one call may have, the
//! component cannot even be instantiated.

use std::path::Path;

use wasm_encoder::{
    BlockType, CodeSection, ConstExpr, DataSection, ExportKind, ExportSection, Function,
    FunctionSection, GlobalSection, GlobalType, MemArg, MemorySection, MemoryType, Module,
    TypeSection, ValType,
};

const INTERFACE: &str = "llmhost:provider/provider@0.2.0";
/// Where the provider info lies in memory 0, and its strings after it.
const INFO: u32 = 1024;
/// Where `cabi_realloc` starts handing out memory 0.
const HEAP: i32 = 64 << 10;

/// The component `name` (its metadata says so too) with `memories` linear
/// memories.
pub(crate) fn component(wit: &Path, name: &str, memories: u32) -> Vec<u8> {
    let mut resolve = wit_parser::Resolve::default();
    let (package, _) = resolve.push_dir(wit).expect("parse the contract");
    let world = resolve
        .select_world(&[package], Some("plugin"))
        .expect("the contract's plugin world");
    let mut module = core_module(name, memories);
    wit_component::embed_component_metadata(
        &mut module,
        &resolve,
        world,
        wit_component::StringEncoding::UTF8,
    )
    .expect("embed the component type");
    wit_component::ComponentEncoder::default()
        .module(&module)
        .expect("a core module for the plugin world")
        .validate(true)
        .encode()
        .expect("encode the component")
}

fn core_module(name: &str, memories: u32) -> Vec<u8> {
    let mut types = TypeSection::new();
    types.ty().function([], [ValType::I32]); // metadata
    types.ty().function([ValType::I32], [ValType::I32]); // complete
    types.ty().function([ValType::I32; 4], [ValType::I32]); // cabi_realloc

    let mut functions = FunctionSection::new();
    for ty in 0..3 {
        functions.function(ty);
    }

    let mut memory_section = MemorySection::new();
    for index in 0..memories {
        memory_section.memory(MemoryType {
            minimum: if index == 0 { 2 } else { 1 },
            maximum: None,
            memory64: false,
            shared: false,
            page_size_log2: None,
        });
    }

    let mut globals = GlobalSection::new();
    let heap = GlobalType {
        val_type: ValType::I32,
        mutable: true,
        shared: false,
    };
    globals.global(heap, &ConstExpr::i32_const(HEAP));

    let mut exports = ExportSection::new();
    exports.export("memory", ExportKind::Memory, 0);
    exports.export(&format!("{INTERFACE}#metadata"), ExportKind::Func, 0);
    exports.export(&format!("{INTERFACE}#complete"), ExportKind::Func, 1);
    exports.export("cabi_realloc", ExportKind::Func, 2);

    let mut code = CodeSection::new();
    let mut metadata = Function::new([]);
    metadata.instructions().i32_const(INFO as i32).end();
    code.function(&metadata);
    code.function(&grow_every_memory(memories));
    code.function(&bump_realloc());

    let mut data = DataSection::new();
    data.active(0, &ConstExpr::i32_const(INFO as i32), provider_info(name));

    let mut module = Module::new();
    module
        .section(&types)
        .section(&functions)
        .section(&memory_section)
        .section(&globals)
        .section(&exports)
        .section(&code)
        .section(&data);
    module.finish()
}

/// `complete`: memories 1.. grow by 16 pages in turn, each new page
/// written (so that it is resident), until one growth fails: then a trap.
fn grow_every_memory(memories: u32) -> Function {
    // Locals after the parameter: 1 = the old size in pages, 2 = a counter.
    let mut f = Function::new([(2, ValType::I32)]);
    let mut i = f.instructions();
    i.loop_(BlockType::Empty);
    for memory in 1..memories {
        i.i32_const(16).memory_grow(memory).local_tee(1);
        i.i32_const(-1)
            .i32_eq()
            .if_(BlockType::Empty)
            .unreachable()
            .end();
        i.i32_const(0).local_set(2);
        i.loop_(BlockType::Empty);
        // memory[old << 16 + counter * 4096] = 1, for 256 pages of 4 KiB.
        i.local_get(1).i32_const(16).i32_shl();
        i.local_get(2).i32_const(4096).i32_mul().i32_add();
        i.i32_const(1).i32_store(MemArg {
            offset: 0,
            align: 2,
            memory_index: memory,
        });
        i.local_get(2).i32_const(1).i32_add().local_tee(2);
        i.i32_const(256).i32_lt_u().br_if(0);
        i.end();
    }
    i.br(0).end();
    i.unreachable().end();
    f
}

/// `cabi_realloc(old, old_size, align, size)`: a bump allocator over memory
/// 0, growing it as needed; nothing is ever freed (one call per instance).
fn bump_realloc() -> Function {
    let mut f = Function::new([(1, ValType::I32)]);
    let mut i = f.instructions();
    // start = (heap + align - 1) & -align; heap = start + size
    i.global_get(0)
        .local_get(2)
        .i32_add()
        .i32_const(1)
        .i32_sub();
    i.i32_const(0).local_get(2).i32_sub().i32_and().local_tee(4);
    i.local_get(3).i32_add().global_set(0);
    i.loop_(BlockType::Empty);
    i.global_get(0)
        .memory_size(0)
        .i32_const(16)
        .i32_shl()
        .i32_gt_u();
    i.if_(BlockType::Empty);
    i.i32_const(1).memory_grow(0).i32_const(-1).i32_eq();
    i.if_(BlockType::Empty).unreachable().end();
    i.br(1).end();
    i.end();
    i.local_get(4).end();
    f
}

/// The canonical ABI layout of `provider-info` at `INFO`, its strings
/// after it: name, version, description, no models, no features, no media.
fn provider_info(name: &str) -> Vec<u8> {
    let strings = [
        name,
        "0.0.0",
        "several memories, grown together until the call's one budget stops them",
    ];
    let mut record: Vec<u8> = Vec::new();
    let mut text: Vec<u8> = Vec::new();
    let text_at = INFO + 44;
    for s in strings {
        let at = text_at + text.len() as u32;
        record.extend(at.to_le_bytes());
        record.extend((s.len() as u32).to_le_bytes());
        text.extend(s.as_bytes());
    }
    // models: list (ptr, len); capabilities: features (u16, padded to 4),
    // input-media: list (ptr, len).
    record.extend([0u8; 8]);
    record.extend([0u8; 4]);
    record.extend([0u8; 8]);
    assert_eq!(record.len(), 44);
    record.extend(text);
    record
}
