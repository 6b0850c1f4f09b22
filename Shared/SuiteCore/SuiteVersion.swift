/// The suite's version: every executable's `--version`, and `suite_build_info` at
/// `/metrics`. Raised with each release.
public enum SuiteVersion {
    public static let current = "0.9.0"
}
