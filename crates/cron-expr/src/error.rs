//! The one error type of this crate: why an expression did not parse, and where.

use std::fmt;

/// One field of a cron expression, in the order they are written.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Field {
    /// Seconds, 0-59.
    Second,
    /// Minutes, 0-59.
    Minute,
    /// Hours, 0-23.
    Hour,
    /// Day of the month, 1-31, with `L`, `L-n`, `nW` and `LW`.
    DayOfMonth,
    /// Month, 1-12 or JAN-DEC.
    Month,
    /// Day of the week, 0-7 (0 and 7 are Sunday) or SUN-SAT, with `xL` and `x#n`.
    DayOfWeek,
    /// Year, 1970-2099 (the optional seventh field).
    Year,
}

impl Field {
    /// The field's name as error messages and explanations spell it.
    pub fn name(self) -> &'static str {
        match self {
            Field::Second => "second",
            Field::Minute => "minute",
            Field::Hour => "hour",
            Field::DayOfMonth => "day-of-month",
            Field::Month => "month",
            Field::DayOfWeek => "day-of-week",
            Field::Year => "year",
        }
    }
}

impl fmt::Display for Field {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// Why a cron expression was rejected, with the field, the offending token and its column.
///
/// The message is written for people: lowercase, no trailing period, saying what was found
/// and what was expected, e.g.
/// `day-of-week: invalid value "FRX" at column 18 (expected 0-7 or SUN-SAT)`.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error("{}", self.render())]
pub struct ParseError {
    /// Boxed so that the parser's `Result`s stay small on the path that succeeds.
    inner: Box<ErrorInner>,
}

#[derive(Clone, Debug, PartialEq, Eq)]
struct ErrorInner {
    field: Option<Field>,
    column: usize,
    token: String,
    kind: ParseErrorKind,
}

/// What exactly was wrong; the message text is derived from it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) enum ParseErrorKind {
    /// The expression was empty or only whitespace.
    Empty,
    /// The number of fields was not 5, 6 or 7.
    FieldCount(usize),
    /// A `@name` that is not one of the known macros.
    UnknownMacro,
    /// A value that is neither a number nor a name of this field.
    InvalidValue,
    /// A number outside the field's range.
    OutOfRange,
    /// A range whose start is after its end.
    WrappingRange,
    /// A step of zero or one larger than the field's span.
    InvalidStep,
    /// An empty item in a list (`1,,2`) or an empty part of a range or step.
    EmptyItem,
    /// `?` outside the two day fields.
    QuestionMarkNotAllowed,
    /// A special form (`L`, `W`, `#`) that is malformed or not allowed in this field.
    InvalidSpecial(&'static str),
    /// The day fields select no day in any selected month (and year), so nothing ever fires.
    NeverFires,
}

impl ParseError {
    pub(crate) fn new(
        field: Option<Field>,
        column: usize,
        token: &str,
        kind: ParseErrorKind,
    ) -> ParseError {
        ParseError {
            inner: Box::new(ErrorInner {
                field,
                column,
                token: token.to_owned(),
                kind,
            }),
        }
    }

    /// The field the error is in; `None` for errors about the expression as a whole (such as
    /// the wrong number of fields).
    pub fn field(&self) -> Option<Field> {
        self.inner.field
    }

    /// The 1-based column (in characters) where the offending token starts.
    pub fn column(&self) -> usize {
        self.inner.column
    }

    /// The offending token as written.
    pub fn token(&self) -> &str {
        &self.inner.token
    }

    fn render(&self) -> String {
        let prefix = match self.inner.field {
            Some(field) => format!("{field}: "),
            None => String::new(),
        };
        let token = &self.inner.token;
        let column = self.inner.column;
        let expected = self.inner.field.map(expected_values).unwrap_or("");
        let body = match &self.inner.kind {
            ParseErrorKind::Empty => {
                "empty expression (expected 5, 6 or 7 fields, e.g. \"0 */5 * * * *\")".to_owned()
            }
            ParseErrorKind::FieldCount(found) => format!(
                "expected 5, 6 or 7 fields (second minute hour day-of-month month day-of-week [year]), found {found}"
            ),
            ParseErrorKind::UnknownMacro => format!(
                "unknown macro \"{token}\" at column {column} (expected @yearly, @annually, @monthly, @weekly, @daily, @midnight or @hourly)"
            ),
            ParseErrorKind::InvalidValue => {
                format!("invalid value \"{token}\" at column {column} (expected {expected})")
            }
            ParseErrorKind::OutOfRange => {
                format!(
                    "value \"{token}\" at column {column} is out of range (expected {expected})"
                )
            }
            ParseErrorKind::WrappingRange => format!(
                "range \"{token}\" at column {column} runs backwards (its start must not be after its end; split it into two ranges)"
            ),
            ParseErrorKind::InvalidStep => format!(
                "invalid step \"{token}\" at column {column} (expected a number from 1 up to the field's span)"
            ),
            ParseErrorKind::EmptyItem => {
                format!("empty item at column {column} in \"{token}\" (expected {expected})")
            }
            ParseErrorKind::QuestionMarkNotAllowed => format!(
                "\"?\" at column {column} is only allowed in the day-of-month and day-of-week fields"
            ),
            ParseErrorKind::InvalidSpecial(why) => {
                format!("invalid \"{token}\" at column {column} ({why})")
            }
            ParseErrorKind::NeverFires => format!(
                "\"{token}\" at column {column} never falls in the selected months and years, so the schedule can never fire"
            ),
        };
        prefix + &body
    }
}

/// What a field accepts, for error messages.
fn expected_values(field: Field) -> &'static str {
    match field {
        Field::Second | Field::Minute => "0-59",
        Field::Hour => "0-23",
        Field::DayOfMonth => "1-31, L, L-n, nW or LW",
        Field::Month => "1-12 or JAN-DEC",
        Field::DayOfWeek => "0-7 or SUN-SAT",
        Field::Year => "1970-2099",
    }
}
