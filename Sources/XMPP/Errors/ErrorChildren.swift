/// What the children of a stream or stanza `<error/>` say (RFC 6120 §4.9.2, §8.3.2): the
/// defined condition (and any content it carries), the `<text/>` with its language, and the
/// first application-specific child. Unknown or missing conditions are `undefined-condition`.
struct ErrorChildren<Condition: RawRepresentable> where Condition.RawValue == String {
    var condition: Condition
    var content: String?
    var text: String?
    var language: String?
    var application: XMLElement?

    /// - Parameters:
    ///   - namespace: the namespace of the defined conditions and of `<text/>`.
    ///   - undefined: the condition when none is recognised.
    init(of element: XMLElement, namespace: String, undefined: Condition) {
        condition = undefined
        for child in element.elements {
            if child.namespace == namespace {
                if child.name == "text" {
                    text = child.text
                    language = child.attribute("xml:lang")
                } else if let known = Condition(rawValue: child.name) {
                    condition = known
                    content = child.text.isEmpty ? nil : child.text
                }
            } else if application == nil {
                application = child
            }
        }
    }
}
