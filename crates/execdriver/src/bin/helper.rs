//! `rdocker-exec-helper <bundle>`: the container shim as a standalone executable (used by tests;
//! rdockerd runs the same code as `rdockerd init <bundle>`).

fn main() {
    std::process::exit(execdriver::helper::main())
}
