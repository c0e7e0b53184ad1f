//! One-line pointers into a history for a piece of evidence, shared by the
//! report renderers and campaign aggregation (a leaf module, so neither
//! depends on the other).

use checkers::{Evidence, Nanos};

/// Seconds with two decimals (`3.20`), for compact evidence windows.
fn format_seconds_short(nanos: Nanos) -> String {
    format!("{:.2}", nanos as f64 / 1e9)
}

/// Cut `text` to at most `max_chars` characters, marking the cut with `…`,
/// so one long checker message cannot blow up a table row.
pub fn shorten(text: &str, max_chars: usize) -> String {
    let single_line = text.split_whitespace().collect::<Vec<_>>().join(" ");
    if single_line.chars().count() <= max_chars {
        return single_line;
    }
    let kept: String = single_line
        .chars()
        .take(max_chars.saturating_sub(1))
        .collect();
    format!("{}…", kept.trim_end())
}

/// `seq 41, 57 @ 3.20–3.45 s: <message>`: where to look in the history for
/// one piece of evidence; the message is cut to `max_message_chars`.
pub fn evidence_pointer(evidence: &Evidence, max_message_chars: usize) -> String {
    const SHOWN_SEQS: usize = 4;
    let mut seqs: Vec<String> = evidence
        .seqs
        .iter()
        .take(SHOWN_SEQS)
        .map(u64::to_string)
        .collect();
    if evidence.seqs.len() > SHOWN_SEQS {
        seqs.push(format!("+{}", evidence.seqs.len() - SHOWN_SEQS));
    }
    let [from, to] = evidence.window;
    let window = if from == to {
        format!("{} s", format_seconds_short(from))
    } else {
        format!(
            "{}–{} s",
            format_seconds_short(from),
            format_seconds_short(to)
        )
    };
    let location = if seqs.is_empty() {
        format!("@ {window}")
    } else {
        format!("seq {} @ {window}", seqs.join(", "))
    };
    if evidence.message.is_empty() {
        location
    } else {
        format!(
            "{location}: {}",
            shorten(&evidence.message, max_message_chars)
        )
    }
}
