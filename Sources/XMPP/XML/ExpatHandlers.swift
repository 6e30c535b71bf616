internal import CExpat

#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#elseif canImport(Darwin)
import Darwin
#endif

/// A namespace-qualified name as expat reports it (`uri SEP local`), split.
struct ExpandedName {
    var namespace: String?
    var local: String
}

/// The C callbacks expat calls while `XML_Parse` runs. Each one recovers the
/// ``XMLStreamParser`` from the user-data pointer (unretained: the parser owns the expat parser,
/// so it is alive whenever expat runs) and does nothing once the parser has failed, because
/// expat may still deliver a callback or two after `XML_StopParser`.
enum ExpatHandlers {
    /// Separates URI and local name in expat's names. U+0001 cannot occur in XML 1.0 text, not
    /// even as a character reference, so no namespace URI can contain it and splitting on it is
    /// unambiguous.
    static let namespaceSeparator: XML_Char = 0x01

    static func install(on owner: XMLStreamParser) {
        let parser = owner.parser
        XML_SetUserData(parser, Unmanaged.passUnretained(owner).toOpaque())
        // Never read external DTD subsets or parameter entities (that is also the default).
        _ = XML_SetParamEntityParsing(parser, XML_PARAM_ENTITY_PARSING_NEVER)
        ExpatCompatibility.disableReparseDeferral(parser)

        XML_SetStartNamespaceDeclHandler(parser) { userData, prefix, uri in
            guard let owner = XMLStreamParser.from(userData) else { return }
            owner.didDeclareNamespace(prefix: prefix.map { String(cString: $0) }, uri: uri.map { String(cString: $0) })
        }
        XML_SetElementHandler(
            parser,
            { userData, name, attributes in
                guard let owner = XMLStreamParser.from(userData), let name else { return }
                guard let expanded = owner.expandedName(name) else { return }
                var list: [XMLAttribute] = []
                if let attributes {
                    var count = 0
                    while attributes[count] != nil { count += 1 }
                    count /= 2
                    if count > owner.limits.maxAttributes {
                        return owner.fail(.policyViolation, "more than \(owner.limits.maxAttributes) attributes on one element")
                    }
                    list.reserveCapacity(count)
                    for index in 0..<count {
                        guard let attributeName = owner.expandedName(attributes[2 * index]!) else { return }
                        let value = String(cString: attributes[2 * index + 1]!)
                        if attributeName.namespace == XMLNamespace.xml {
                            list.append(XMLAttribute(name: "xml:" + attributeName.local, namespace: XMLNamespace.xml, value: value))
                        } else {
                            list.append(XMLAttribute(name: attributeName.local, namespace: attributeName.namespace, value: value))
                        }
                    }
                }
                owner.didStartElement(expanded, attributes: list)
            },
            { userData, _ in
                XMLStreamParser.from(userData)?.didEndElement()
            })
        XML_SetCharacterDataHandler(parser) { userData, characters, length in
            guard let owner = XMLStreamParser.from(userData), let characters, length > 0 else { return }
            characters.withMemoryRebound(to: UInt8.self, capacity: Int(length)) {
                owner.didReadCharacters(UnsafeBufferPointer(start: $0, count: Int(length)))
            }
        }
        XML_SetCdataSectionHandler(
            parser,
            { userData in XMLStreamParser.from(userData)?.didReadCDATAMarker() },
            { userData in XMLStreamParser.from(userData)?.didReadCDATAMarker() })
        XML_SetXmlDeclHandler(parser) { userData, _, encoding, _ in
            XMLStreamParser.from(userData)?.didReadXMLDeclaration(encoding: encoding.map { String(cString: $0) })
        }

        // Restricted XML (RFC 6120 §11.1). A DOCTYPE is refused as soon as `<!DOCTYPE name` is
        // read, before any declaration in it is processed, so entity declarations (and with them
        // entity expansion attacks and external entities) never reach expat's tables. The other
        // handlers are defence in depth for constructs that can only follow a DOCTYPE.
        XML_SetStartDoctypeDeclHandler(parser) { userData, _, _, _, _ in
            XMLStreamParser.from(userData)?.fail(.restrictedXML, "document type declarations are not allowed")
        }
        XML_SetEntityDeclHandler(parser) { userData, _, _, _, _, _, _, _, _ in
            XMLStreamParser.from(userData)?.fail(.restrictedXML, "entity declarations are not allowed")
        }
        XML_SetSkippedEntityHandler(parser) { userData, _, _ in
            XMLStreamParser.from(userData)?.fail(.restrictedXML, "entity references are not allowed")
        }
        XML_SetCommentHandler(parser) { userData, _ in
            XMLStreamParser.from(userData)?.fail(.restrictedXML, "comments are not allowed")
        }
        XML_SetProcessingInstructionHandler(parser) { userData, _, _ in
            XMLStreamParser.from(userData)?.fail(.restrictedXML, "processing instructions are not allowed")
        }
    }

    /// The stream error for an error expat detected itself.
    static func condition(for code: XML_Error) -> StreamErrorCondition {
        switch code {
        case XML_ERROR_UNDEFINED_ENTITY, XML_ERROR_RECURSIVE_ENTITY_REF, XML_ERROR_PARAM_ENTITY_REF,
             XML_ERROR_ASYNC_ENTITY, XML_ERROR_BINARY_ENTITY_REF, XML_ERROR_ATTRIBUTE_EXTERNAL_ENTITY_REF,
             XML_ERROR_EXTERNAL_ENTITY_HANDLING, XML_ERROR_NOT_STANDALONE, XML_ERROR_ENTITY_DECLARED_IN_PE,
             XML_ERROR_FEATURE_REQUIRES_XML_DTD, XML_ERROR_AMPLIFICATION_LIMIT_BREACH,
             XML_ERROR_MISPLACED_XML_PI:
            .restrictedXML
        case XML_ERROR_UNKNOWN_ENCODING, XML_ERROR_INCORRECT_ENCODING:
            .unsupportedEncoding
        case XML_ERROR_UNBOUND_PREFIX, XML_ERROR_UNDECLARING_PREFIX, XML_ERROR_RESERVED_PREFIX_XML,
             XML_ERROR_RESERVED_PREFIX_XMLNS, XML_ERROR_RESERVED_NAMESPACE_URI:
            .badNamespacePrefix
        case XML_ERROR_NO_MEMORY:
            .resourceConstraint
        case XML_ERROR_SUSPENDED, XML_ERROR_NOT_SUSPENDED, XML_ERROR_FINISHED, XML_ERROR_SUSPEND_PE,
             XML_ERROR_UNEXPECTED_STATE, XML_ERROR_CANT_CHANGE_FEATURE_ONCE_PARSING, XML_ERROR_ABORTED:
            .internalServerError
        default:
            .notWellFormed
        }
    }
}

extension XMLStreamParser {
    fileprivate static func from(_ userData: UnsafeMutableRawPointer?) -> XMLStreamParser? {
        guard let userData else { return nil }
        let owner = Unmanaged<XMLStreamParser>.fromOpaque(userData).takeUnretainedValue()
        return owner.failure == nil ? owner : nil
    }

    /// Splits `uri SEP local` (or a bare local name), enforcing the name length limit.
    fileprivate func expandedName(_ name: UnsafePointer<XML_Char>) -> ExpandedName? {
        let length = strlen(name)
        guard length <= limits.maxNameBytes else {
            fail(.policyViolation, "name longer than \(limits.maxNameBytes) bytes")
            return nil
        }
        return name.withMemoryRebound(to: UInt8.self, capacity: length) { start in
            let bytes = UnsafeBufferPointer(start: start, count: length)
            guard let separator = bytes.firstIndex(of: UInt8(ExpatHandlers.namespaceSeparator)) else {
                return ExpandedName(namespace: nil, local: String(decoding: bytes, as: UTF8.self))
            }
            return ExpandedName(
                namespace: String(decoding: bytes[..<separator], as: UTF8.self),
                local: String(decoding: bytes[(separator + 1)...], as: UTF8.self))
        }
    }
}

/// Features of newer expat releases, looked up at run time so the package builds against the
/// 2.5 headers and still behaves on the releases deployments will upgrade to.
enum ExpatCompatibility {
    private typealias SetReparseDeferralEnabled = @convention(c) (XML_Parser?, XML_Bool) -> XML_Bool

    /// Expat 2.6 defers re-parsing an incomplete token until enough new input has arrived. For a
    /// network stream that means a stanza whose last bytes arrived may not be reported until
    /// more data comes, which a request/response protocol cannot tolerate. The quadratic
    /// re-scan it prevents is bounded by ``XMLStreamLimits/maxTagBytes`` instead.
    private static let setReparseDeferralEnabled: SetReparseDeferralEnabled? = {
        guard let process = dlopen(nil, RTLD_NOW), let symbol = dlsym(process, "XML_SetReparseDeferralEnabled") else {
            return nil
        }
        return unsafeBitCast(symbol, to: SetReparseDeferralEnabled.self)
    }()

    static func disableReparseDeferral(_ parser: XML_Parser) {
        _ = setReparseDeferralEnabled?(parser, 0)
    }
}
