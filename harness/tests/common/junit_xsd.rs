//! JUnit documents validated against the schema CI servers accept: Jenkins'
//! `junit-10.xsd` (xunit plugin), with `xmllint --schema` from Debian's
//! libxml2-utils. The schema is not ours, so it is not in the repository:
//! `.ci/run` takes it from a pinned pytest source distribution (which ships
//! a copy as `testing/example_scripts/junit-10.xsd`), checks its sha256 and
//! passes its path in `SPLITBRAIN_JUNIT_XSD`. A missing schema or validator
//! fails the test that needs it: nothing is skipped.

use std::io::Write;
use std::path::PathBuf;
use std::process::Command;

/// The variable that holds the path of `junit-10.xsd`.
pub const XSD_VAR: &str = "SPLITBRAIN_JUNIT_XSD";

const HOW: &str = "run `bash .ci/run` (it installs libxml2-utils and fetches the schema), \
    or install libxml2-utils (`apt-get install libxml2-utils`) and set \
    SPLITBRAIN_JUNIT_XSD to a copy of Jenkins' junit-10.xsd (pytest's source \
    distribution ships one as testing/example_scripts/junit-10.xsd; .ci/run says \
    which version)";

/// The schema's path, from [`XSD_VAR`]; panics, saying how to get it, when
/// it is not set or not a file.
pub fn schema() -> PathBuf {
    let path = std::env::var_os(XSD_VAR)
        .map(PathBuf::from)
        .unwrap_or_else(|| panic!("{XSD_VAR} is not set: {HOW}"));
    assert!(
        path.is_file(),
        "{XSD_VAR}={} is not a file: {HOW}",
        path.display()
    );
    path
}

/// `Ok` when `xml` is valid against `junit-10.xsd`; `Err` with xmllint's
/// complaint when it is not well-formed or not valid. Panics when xmllint
/// or the schema is missing or the schema does not compile, so a broken
/// setup can never pass for a rejected document.
pub fn validate(xml: &str) -> Result<(), String> {
    let xsd = schema();
    let mut file = tempfile::NamedTempFile::new().expect("temporary file");
    file.write_all(xml.as_bytes())
        .expect("writing the document");
    let out = Command::new("xmllint")
        .arg("--noout")
        .arg("--schema")
        .arg(&xsd)
        .arg(file.path())
        .output()
        .unwrap_or_else(|e| panic!("cannot run xmllint ({e}): {HOW}"));
    let stderr = String::from_utf8_lossy(&out.stderr).into_owned();
    match out.status.code() {
        Some(0) => Ok(()),
        // xmllint's exit codes: 1 not well-formed, 3 not valid.
        Some(1) | Some(3) => Err(stderr),
        _ => panic!(
            "xmllint could not validate against {} ({}): {stderr}\n{HOW}",
            xsd.display(),
            out.status
        ),
    }
}

/// Panics, showing xmllint's complaint and the document, unless `xml` is
/// valid JUnit.
pub fn assert_valid(xml: &str, what: &str) {
    if let Err(complaint) = validate(xml) {
        panic!("{what} is not valid against junit-10.xsd:\n{complaint}\n--- document:\n{xml}");
    }
}
