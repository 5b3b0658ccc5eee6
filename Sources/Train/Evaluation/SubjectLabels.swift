import Foundation

/// Subject labels for the classification task: a CSV with a header row, a `subject` column holding shard
/// subject keys and a label column holding 0 or 1 (blank: unlabelled). Quoted fields are not supported.
public enum SubjectLabels {
    public static func read(_ url: URL, column: String) throws -> [String: Int] {
        let text: String
        do { text = try String(contentsOf: url, encoding: .utf8) } catch { throw TrainingError("\(url.path): cannot be read (\(error.localizedDescription))") }
        let rows = text.split(whereSeparator: \.isNewline).map { $0.split(separator: ",", omittingEmptySubsequences: false).map { $0.trimmingCharacters(in: .whitespaces) } }
        guard let header = rows.first, let s = header.firstIndex(of: "subject"), let l = header.firstIndex(of: column) else {
            throw TrainingError("\(url.path): the header needs the columns 'subject' and '\(column)'")
        }
        var labels: [String: Int] = [:]
        for (n, row) in rows.dropFirst().enumerated() where row.count > max(s, l) && !row[l].isEmpty {
            guard let value = Int(row[l]), value == 0 || value == 1 else { throw TrainingError("\(url.path): line \(n + 2): label '\(row[l])' is not 0 or 1") }
            guard labels[row[s]] == nil else { throw TrainingError("\(url.path): line \(n + 2): subject \(row[s]) is labelled twice") }
            labels[row[s]] = value
        }
        return labels
    }
}
