//! The `durastream` binary: a thin `main` over [`durastream_server::cli`].

fn main() -> std::process::ExitCode {
    durastream_server::cli::main_with_args(std::env::args_os())
}
