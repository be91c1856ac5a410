//! How a command fails: a message for stderr and the exit code scripts
//! can test.
//!
//! | code | meaning |
//! |---|---|
//! | 0 | success |
//! | 1 | the server refused or failed the request |
//! | 2 | usage or input error (flags, configuration, bad lines) |
//! | 3 | the server cannot be reached or is unavailable |
//! | 4 | verification failed, or the server reports damaged data |

use std::process::ExitCode;

use stele_client::Error;
use tonic::Code;

/// A failed command.
#[derive(Debug)]
pub struct Failure {
    /// What to print after `error: `.
    pub message: String,
    /// The process's exit code.
    pub code: u8,
}

/// Exit code: the server refused or failed the request.
pub const REFUSED: u8 = 1;
/// Exit code: usage or input error.
pub const USAGE: u8 = 2;
/// Exit code: the server cannot be reached.
pub const UNREACHABLE: u8 = 3;
/// Exit code: evidence does not verify.
pub const INTEGRITY: u8 = 4;

impl Failure {
    /// A usage or input error.
    pub fn usage(message: impl Into<String>) -> Failure {
        Failure {
            message: message.into(),
            code: USAGE,
        }
    }

    /// The exit code.
    pub fn exit_code(&self) -> ExitCode {
        ExitCode::from(self.code)
    }
}

impl From<Error> for Failure {
    fn from(error: Error) -> Failure {
        let code = match &error {
            Error::Config { .. } | Error::Invalid { .. } => USAGE,
            Error::Connect { .. } => UNREACHABLE,
            Error::Verification(_) => INTEGRITY,
            Error::Status(s) => match s.code() {
                Code::Unavailable | Code::DeadlineExceeded => UNREACHABLE,
                Code::DataLoss => INTEGRITY,
                _ => REFUSED,
            },
            Error::Protocol(_) | Error::Closed(_) => REFUSED,
        };
        Failure {
            message: error.to_string(),
            code,
        }
    }
}
