//! The `accession` command line. Errors end in one readable line on stderr (one JSON object with
//! `--json`) and an exit code: 0 ok, 1 refused or invalid input, 2 usage, 3 conflict, 4
//! internal, 5 busy (try again).

use std::process::ExitCode;

use clap::Parser;

use accession::cli::{Cli, report_error, report_usage_error, run};

fn main() -> ExitCode {
    let cli = match Cli::try_parse() {
        Ok(cli) => cli,
        Err(e) => return report_usage_error(e),
    };
    accession::cli::init_tracing(cli.verbose);
    if let Err(e) = accession::locale::check() {
        eprintln!("error: {e}");
        return ExitCode::from(4);
    }
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
    runtime.block_on(async {
        match run(&cli).await {
            Ok(code) => ExitCode::from(code),
            Err(e) => {
                report_error(&cli, &e).await;
                ExitCode::from(e.exit_code())
            }
        }
    })
}
