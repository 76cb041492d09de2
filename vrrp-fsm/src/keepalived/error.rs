//! Positions, errors and warnings of the keepalived.conf reader.

use core::fmt;

/// Where something is in the configuration: file (as named to the reader or by `include`), line
/// and column, both from 1.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Default)]
pub struct Position {
    /// File name.
    pub file: String,
    /// Line, from 1.
    pub line: usize,
    /// Column (in bytes), from 1.
    pub column: usize,
}

impl fmt::Display for Position {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}:{}:{}", self.file, self.line, self.column)
    }
}

/// A configuration error: where, and what.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{pos}: {kind}")]
pub struct ConfigError {
    /// Where the error is.
    pub pos: Position,
    /// What is wrong.
    pub kind: ErrorKind,
}

impl ConfigError {
    pub(crate) fn new(pos: Position, kind: ErrorKind) -> Self {
        Self { pos, kind }
    }
}

/// What is wrong with a configuration.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum ErrorKind {
    /// A `"` without its closing quote on the same line.
    #[error("unterminated quoted string")]
    UnterminatedQuote,
    /// A `{` that is never closed.
    #[error("block opened here is never closed")]
    UnclosedBlock,
    /// A `}` without a block to close.
    #[error("unexpected '}}'")]
    UnexpectedClose,
    /// A `{` where no keyword precedes it.
    #[error("'{{' without a keyword")]
    StrayOpen,
    /// A keyword that needs a block has none.
    #[error("{0} needs a {{ … }} block")]
    BlockExpected(String),
    /// A keyword is missing its argument.
    #[error("{keyword} needs {expected}")]
    MissingValue {
        /// The keyword.
        keyword: String,
        /// What it needs.
        expected: &'static str,
    },
    /// A value does not parse or is out of range.
    #[error("{keyword}: invalid value '{value}', expected {expected}")]
    WrongValue {
        /// The keyword.
        keyword: String,
        /// The value as written.
        value: String,
        /// What is acceptable.
        expected: &'static str,
    },
    /// A required keyword is missing from a block.
    #[error("{block} {name}: missing {keyword}")]
    Missing {
        /// The block kind (`vrrp_instance`, …).
        block: &'static str,
        /// The block's name.
        name: String,
        /// The missing keyword.
        keyword: &'static str,
    },
    /// Two blocks of the same kind have the same name.
    #[error("{block} {name} defined twice")]
    Duplicate {
        /// The block kind.
        block: &'static str,
        /// The name.
        name: String,
    },
    /// A reference to a block that does not exist (a sync group member, a tracked script).
    #[error("{what} '{name}' is not defined")]
    Undefined {
        /// What kind of thing is referenced.
        what: &'static str,
        /// Its name.
        name: String,
    },
    /// A keyword or value that hakit does not support and that cannot be ignored safely.
    #[error("{0}")]
    Unsupported(String),
    /// `include` could not be resolved.
    #[error("include {pattern}: {reason}")]
    Include {
        /// The pattern.
        pattern: String,
        /// Why it failed.
        reason: String,
    },
    /// Includes nested too deeply (a loop?).
    #[error("includes nested more than {0} deep")]
    IncludeDepth(usize),
    /// The configuration (with its includes) exceeds the size limit.
    #[error("configuration larger than {0} bytes")]
    TooLarge(usize),
}

/// A warning: the configuration is accepted, but something in it is ignored or adjusted, as
/// keepalived itself reports it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Warning {
    /// Where.
    pub pos: Position,
    /// What happened.
    pub message: String,
}

impl fmt::Display for Warning {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}: warning: {}", self.pos, self.message)
    }
}
