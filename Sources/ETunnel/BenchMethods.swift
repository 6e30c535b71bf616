/// Method ids of the eTunnel test and benchmark peer (`mmgs-etunnel-bench server`), kept in the
/// library so tests and the benchmark agree on them. Service 0x7f00 is reserved for this.
public enum BenchMethods {
    public static let echo = MethodID(service: 0x7f00, method: 1)
    public static let sink = MethodID(service: 0x7f00, method: 2)
    public static let hang = MethodID(service: 0x7f00, method: 3)
    public static let stats = MethodID(service: 0x7f00, method: 4)
}
