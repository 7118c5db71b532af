//! `rdocker-exec-helper <bundle>`: the container shim as a standalone executable, and
//! `rdocker-exec-helper zygote`: the zygote that forks shims (used by tests; rdockerd runs the
//! same code as `rdockerd init <bundle>` and `rdockerd zygote`).

fn main() {
    let code = if std::env::args().nth(1).as_deref() == Some("zygote") {
        execdriver::zygote::main()
    } else {
        execdriver::helper::main()
    };
    std::process::exit(code)
}
