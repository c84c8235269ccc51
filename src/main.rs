//! The `accession` command line. Errors end in one readable line on stderr and an exit code:
//! 0 ok, 1 refused or invalid input, 2 usage, 3 conflict, 4 internal, 5 busy (try again).

use std::process::ExitCode;

use clap::Parser;

use accession::cli::{Cli, run};

fn main() -> ExitCode {
    let cli = Cli::parse();
    accession::cli::init_tracing(cli.verbose);
    if let Err(e) = accession::locale::check() {
        eprintln!("error: {e}");
        return ExitCode::from(4);
    }
    let language = cli.language();
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("error: cannot start the runtime: {e}");
            return ExitCode::from(4);
        }
    };
    match runtime.block_on(run(cli)) {
        Ok(code) => ExitCode::from(code),
        Err(e) => {
            eprintln!("{}", accession::cli::error_line(&e, language));
            ExitCode::from(e.exit_code())
        }
    }
}
