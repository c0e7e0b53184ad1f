//! The campaign's exit code (Jepsen's convention), which depends on both the
//! run counts of [`crate::campaign`] and, for a mutation campaign, on the
//! score of [`crate::mutation`]: kept apart so neither of those imports the
//! other's caller.

use crate::campaign::CampaignSummary;
use crate::mutation::MutationScore;

impl CampaignSummary {
    /// The campaign's exit code: 1 if any run found a violation, else 255 if
    /// any failed to run, else 2 if any is unknown (unless allowed), else 0.
    /// An interrupted or incomplete campaign is never 0: it exits 2 when
    /// nothing worse was found, whatever `--allow-unknown` says.
    ///
    /// A mutation campaign (some target names a `baseline`) is meant to
    /// find violations, so its code is its score's: 0 when every goal is
    /// met, 1 when one is not, 2 while it is incomplete.
    pub fn exit_code(&self) -> i32 {
        if let Some(score) = MutationScore::of(self, Default::default()) {
            return if !self.complete || self.interrupted {
                2
            } else if score.every_bug_detected_in_time() && score.correct_variants_safe() {
                0
            } else {
                1
            };
        }
        let c = self.counts();
        if c.invalid > 0 {
            1
        } else if c.failed > 0 {
            255
        } else if (c.unknown > 0 && !self.allow_unknown) || self.interrupted || !self.complete {
            2
        } else {
            0
        }
    }
}
