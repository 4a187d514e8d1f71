//! The text listing of many conversations (`phonehome llm`), grouped by the agent's session:
//! each group under a heading with its number of calls, groups in order of their first flow.
//!
//! The groups are known only once the whole input is read, so each call's text is written to
//! an anonymous temporary file (readable by the user only, gone once closed) as it comes, and
//! memory keeps its place in that file: two numbers a call, one entry a session.

use std::collections::HashMap;
use std::fs::File;
use std::io::{self, BufReader, BufWriter, Read, Seek, SeekFrom, Write};

use phonehome_record::FlowId;

use super::conversation::Conversation;
use super::text::{listing_text, session_heading};

/// Conversations given in flow order, written out grouped by session.
///
/// ```text
/// === session ses_A: 2 calls
///
/// --- flow 2 · …
///   …
///
/// --- flow 5 · …
///
/// === no session id: 1 call
/// …
/// ```
pub struct Listing {
    spill: BufWriter<File>,
    written: u64,
    groups: Vec<Group>,
    by_session: HashMap<Option<String>, usize>,
}

/// The calls of one session: where their text is in the spill file, and their flows.
struct Group {
    session: Option<String>,
    /// (offset, length, flow).
    blocks: Vec<(u64, u64, FlowId)>,
}

impl Listing {
    /// # Errors
    /// The temporary file cannot be created.
    pub fn new() -> io::Result<Self> {
        Ok(Self {
            spill: BufWriter::with_capacity(1 << 16, tempfile::tempfile()?),
            written: 0,
            groups: Vec::new(),
            by_session: HashMap::new(),
        })
    }

    /// Adds the next conversation (in flow order).
    ///
    /// # Errors
    /// Writing to the temporary file failed.
    pub fn push(&mut self, c: &Conversation) -> io::Result<()> {
        let text = listing_text(c);
        self.spill.write_all(text.as_bytes())?;
        let len = text.len() as u64;
        let group = self.group(&c.session);
        self.groups[group].blocks.push((self.written, len, c.flow));
        self.written += len;
        Ok(())
    }

    /// Writes the listing: `No LLM call.` when nothing was added.
    ///
    /// # Errors
    /// Reading the temporary file or writing to `out` failed.
    pub fn write_to(self, out: &mut impl Write) -> io::Result<()> {
        self.write_annotated(out, |_| String::new())
    }

    /// As [`write_to`](Self::write_to), with `note(flow)` written after each call's text
    /// (what is known of a call only once the whole input is read, such as what its tool
    /// calls caused).
    ///
    /// # Errors
    /// Reading the temporary file or writing to `out` failed.
    pub fn write_annotated(
        self,
        out: &mut impl Write,
        mut note: impl FnMut(FlowId) -> String,
    ) -> io::Result<()> {
        if self.groups.is_empty() {
            return out.write_all(b"No LLM call.\n");
        }
        let mut spill = self.spill.into_inner().map_err(|e| e.into_error())?;
        spill.seek(SeekFrom::Start(0))?;
        let mut spill = BufReader::with_capacity(1 << 16, spill);
        let mut position = 0u64;
        let mut block = Vec::new();
        for group in &self.groups {
            let heading = session_heading(group.session.as_deref(), group.blocks.len());
            writeln!(out, "{heading}")?;
            for &(at, len, flow) in &group.blocks {
                // Within the buffer (the next block, most often) this moves no file offset.
                spill.seek_relative(at as i64 - position as i64)?;
                block.clear();
                (&mut spill).take(len).read_to_end(&mut block)?;
                position = at + len;
                out.write_all(b"\n")?;
                out.write_all(&block)?;
                out.write_all(note(flow).as_bytes())?;
            }
            out.write_all(b"\n")?;
        }
        Ok(())
    }

    fn group(&mut self, session: &Option<String>) -> usize {
        if let Some(&i) = self.by_session.get(session) {
            return i;
        }
        self.groups.push(Group {
            session: session.clone(),
            blocks: Vec::new(),
        });
        self.by_session
            .insert(session.clone(), self.groups.len() - 1);
        self.groups.len() - 1
    }
}
