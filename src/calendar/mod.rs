//! Dates: periods (calendar days, business days, weeks, months, years), working-day calendars and
//! the treaty date rules. Pure: no clock, no I/O.

mod period;
mod recurrence;
mod treaty;
mod working;
mod zones;

pub use period::{InvalidPeriod, Period, Unit};
pub use recurrence::{InvalidCron, Recurrence, parse_cron};
pub use treaty::{EntryIntoForceRule, ValidityRule};
pub use working::WorkingCalendar;
pub use zones::Zones;
