//! Target files (contract 2); filled in by the controller work.
