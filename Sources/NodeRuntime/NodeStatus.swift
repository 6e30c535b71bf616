import ETunnel
import Foundation
import MMGSShared
import Membership
import Prometheus

/// What `/health` and `/metrics` report about this node.
final class NodeStatus: Sendable {
    let context: NodeContext
    let registry: PrometheusCollectorRegistry
    private let epochGauge: Gauge
    private let memberGauges: [MemberStatus: Gauge]
    private let started = Date()

    init(context: NodeContext, registry: PrometheusCollectorRegistry) {
        self.context = context
        self.registry = registry
        self.epochGauge = registry.makeGauge(descriptor: MetricNameDescriptor(namespace: "mmgs", metricName: "view", unitName: "epoch", helpText: "Epoch of the view this node follows (0: none yet)"))
        var gauges: [MemberStatus: Gauge] = [:]
        for status in [MemberStatus.up, .suspect, .down] {
            gauges[status] = registry.makeGauge(descriptor: MetricNameDescriptor(namespace: "mmgs", metricName: "view", unitName: "members", helpText: "Members of the current view by status"), labels: [("status", status.name)])
        }
        self.memberGauges = gauges
    }

    var epoch: UInt64? { context.viewCache.epoch }

    /// Ready once the node follows a view that lists this very process as up.
    var isReady: Bool {
        guard let me = context.viewCache.view?.member(named: context.name) else { return false }
        return me.info.uid == context.myself.uid && me.status != .down
    }

    func health() -> HealthHTTPServer.Response {
        let name = context.name, role = context.myself.role.rawValue
        guard let view = context.viewCache.view else {
            return .init(status: .serviceUnavailable, body: #"{"status":"not-ready","name":"\#(name)","role":"\#(role)","reason":"no view yet"}"# + "\n")
        }
        guard isReady else {
            return .init(status: .serviceUnavailable, body: #"{"status":"not-ready","name":"\#(name)","role":"\#(role)","epoch":\#(view.epoch),"reason":"not in the view yet"}"# + "\n")
        }
        let uptime = Int(Date().timeIntervalSince(started))
        return .init(status: .ok, body: #"{"status":"ready","name":"\#(name)","role":"\#(role)","epoch":\#(view.epoch),"pid":\#(context.myself.pid),"uptime_s":\#(uptime)}"# + "\n")
    }

    func metrics() -> HealthHTTPServer.Response {
        let view = context.viewCache.view
        epochGauge.set(Double(view?.epoch ?? 0))
        for (status, gauge) in memberGauges {
            gauge.set(Double(view?.members.filter { $0.status == status }.count ?? 0))
        }
        var text = registry.emitToString()
        for counter in ETunnelStatistics.shared.snapshot {
            text += "# HELP mmgs_\(counter.name) \(counter.help)\n# TYPE mmgs_\(counter.name) counter\nmmgs_\(counter.name) \(counter.value)\n"
        }
        return .init(status: .ok, contentType: "text/plain; version=0.0.4", body: text)
    }
}
