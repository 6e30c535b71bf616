/// The rates a stepped scenario tries, in order: an explicit list (`--rates 1000,2000,5000`) or
/// an arithmetic series (`--start-rate 1000 --step 1000 --max-rate 10000`).
public enum StepPlan {
    public static func parseList(_ text: String) -> [Double]? {
        let values = text.split(separator: ",").map { Double($0.filter { $0 != " " }) }
        guard !values.isEmpty, values.allSatisfy({ $0 != nil && $0! > 0 }) else { return nil }
        return values.map { $0! }
    }

    public static func series(start: Double, step: Double, max: Double) -> [Double] {
        guard start > 0, max >= start else { return [] }
        guard step > 0 else { return [start] }
        var rates: [Double] = []
        var rate = start
        while rate <= max + 1e-9, rates.count < 10_000 {
            rates.append(rate)
            rate += step
        }
        return rates
    }
}

/// Whether a chat step passed: every message arrived (after the drain) and p99 time to delivery
/// stayed within the bound. Pure, so the stopping rule is tested on its own.
public enum ChatVerdict {
    public static func evaluate(sent: Int, received: Int, openHoles: Int, p99Ms: Double, boundMs: Double) -> (passed: Bool, verdict: String) {
        var problems: [String] = []
        if received < sent { problems.append("\(sent - received) messages missing") }
        if openHoles > 0 && received >= sent { problems.append("\(openHoles) sequence holes") }
        if p99Ms > boundMs { problems.append("p99 \(p99Ms) ms > \(boundMs) ms") }
        if sent == 0 { problems.append("nothing sent") }
        return problems.isEmpty ? (true, "ok") : (false, problems.joined(separator: "; "))
    }
}

/// Whether a login-storm step passed: no failed login, and the achieved rate within 10 % of the
/// asked rate (otherwise the server, or the generator, is the bottleneck).
public enum LoginVerdict {
    public static func evaluate(targetRate: Double, achieved: Double, failed: Int, attempted: Int, p99Ms: Double, boundMs: Double?) -> (passed: Bool, verdict: String) {
        var problems: [String] = []
        if failed > 0 { problems.append("\(failed) of \(attempted) logins failed") }
        if achieved < 0.9 * targetRate { problems.append("achieved \(Int(achieved)) logins/s < 90 % of \(Int(targetRate))") }
        if let boundMs, p99Ms > boundMs { problems.append("p99 \(p99Ms) ms > \(boundMs) ms") }
        return problems.isEmpty ? (true, "ok") : (false, problems.joined(separator: "; "))
    }
}
