import Foundation

/// JSON between processes (plain keys: the key strategies of JSONEncoder also rewrite
/// dictionary keys such as failure reasons, which must arrive intact) and for the `--json`
/// report (snake_case, sorted for stable diffs).
enum JSONLines {
    static func reportEncoder() -> JSONEncoder {
        let encoder = JSONEncoder()
        encoder.keyEncodingStrategy = .convertToSnakeCase
        encoder.outputFormatting = [.sortedKeys, .prettyPrinted]
        return encoder
    }

    static func encode<T: Encodable>(_ value: T) throws -> [UInt8] {
        Array(try JSONEncoder().encode(value))
    }

    static func decode<T: Decodable>(_ type: T.Type, from line: [UInt8]) throws -> T {
        try JSONDecoder().decode(type, from: Data(line))
    }
}
