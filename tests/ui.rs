//! Compile-time behaviour of `#[cache]`: what must compile, and the error messages of what must
//! not. Regenerate the expected `.stderr` files with `TRYBUILD=overwrite cargo test --test ui`.

#[test]
fn ui() {
    let t = trybuild::TestCases::new();
    t.pass("tests/ui/pass/*.rs");
    t.compile_fail("tests/ui/fail/*.rs");
}
