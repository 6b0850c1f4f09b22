import Testing

@testable import SuiteCore

@Suite struct ReadMostlyTests {
    /// Writers on many threads lose no update, and readers never see a half-made one.
    @Test func concurrentWritersLoseNothingAndReadersSeeWholeValues() async {
        let box = ReadMostly((a: 0, b: 0))
        await withTaskGroup(of: Bool.self) { group in
            for _ in 0..<8 {
                group.addTask {
                    for _ in 0..<2_000 { box.write { $0.a += 1; $0.b -= 1 } }
                    return true
                }
                group.addTask {
                    var consistent = true
                    for _ in 0..<2_000 { consistent = consistent && box.read { $0.a + $0.b == 0 } }
                    return consistent
                }
            }
            for await consistent in group { #expect(consistent) }
        }
        #expect(box.read { $0.a } == 16_000)
    }
}
