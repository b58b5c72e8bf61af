use std::process::ExitCode;

fn main() -> ExitCode {
    setpoint::run::main()
}
