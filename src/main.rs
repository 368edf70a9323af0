use compozy::cli::{self, Args, Parser};

fn main() -> std::process::ExitCode {
    let args = Args::parse();
    cli::init(&args);
    cli::run(args).into()
}
