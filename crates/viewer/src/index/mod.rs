//! The flow index: one row per flow, blocked connection and connection failure, with the byte
//! offsets of the records behind it. Built on a background thread that reads the capture once
//! and, unless the view is static, follows it as it grows. Bodies are not kept: the detail pane
//! reads a flow's records again by offset when it is opened.
//!
//! ```text
//! reader (thread: file → lines, batches) ─ line (head → Change) ─ data (IndexData.apply)
//!                                                                  ├ row (Stored, RowRef → Row)
//!                                                                  └ strings (interner)
//! ```

mod data;
mod line;
mod reader;
mod row;
mod strings;

pub use data::IndexData;
pub use reader::Index;
pub use row::{Row, RowKind, RowRef};

#[cfg(test)]
mod tests;
