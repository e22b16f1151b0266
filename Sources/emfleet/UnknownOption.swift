import ArgumentParser
import Foundation

/// Names a misspelt option before anything else is said about the command line.
///
/// ArgumentParser decodes a command before it looks for arguments nobody used, so
/// `gmm fit --componets 3` reports the missing `--components` and never the option the user
/// actually typed wrong. When parsing fails, this looks for a long option the command does
/// not know and reports that instead, with the command's usage and the nearest known name.
enum UnknownOption {
    /// Exits with status 64 naming the first unknown long option of `arguments`, if there is
    /// one and `failure` is a usage error; returns otherwise.
    static func exitIfAny(in arguments: [String], failure: any Error) {
        guard Emfleet.exitCode(for: failure) == .validationFailure else { return }
        let (command, rest) = subcommand(of: arguments)
        let known = knownNames(of: command)
        guard let unknown = firstUnknown(in: rest, known: known) else { return }
        var message = "Error: Unknown option '\(unknown)'"
        if let nearest = nearest(to: unknown, among: known) { message += " (did you mean '\(nearest)'?)" }
        // Keep ArgumentParser's usage lines for this command; drop what it said about the failure.
        let full = Emfleet.fullMessage(for: failure).split(separator: "\n", omittingEmptySubsequences: false)
        let usage = full.drop { !$0.hasPrefix("Usage:") }
        FileHandle.standardError.write(Data((([message] + usage.map(String.init)).joined(separator: "\n") + "\n").utf8))
        exit(ExitCode.validationFailure.rawValue)
    }

    /// The subcommand the leading words of `arguments` name, and the arguments after them.
    static func subcommand(of arguments: [String]) -> (any ParsableCommand.Type, ArraySlice<String>) {
        var command: any ParsableCommand.Type = Emfleet.self
        var rest = arguments[...]
        while let word = rest.first, !word.hasPrefix("-"),
              let next = command.configuration.subcommands.first(where: { $0._commandName == word }) {
            command = next
            rest = rest.dropFirst()
        }
        return (command, rest)
    }

    /// Every long option name `command` accepts, read from its full help (hidden options included).
    static func knownNames(of command: any ParsableCommand.Type) -> Set<String> {
        let help = Emfleet.helpMessage(for: command, includeHidden: true, columns: 100_000)
        var names: Set<String> = ["--help", "--version", "--experimental-dump-help", "--generate-completion-script"]
        let pattern = try! NSRegularExpression(pattern: "--[A-Za-z0-9][A-Za-z0-9-]*")
        for match in pattern.matches(in: help, range: NSRange(help.startIndex..., in: help)) {
            if let range = Range(match.range, in: help) { names.insert(String(help[range])) }
        }
        return names
    }

    /// The first `--name` (or `--name=value`) before a `--` terminator that is not in `known`.
    static func firstUnknown(in arguments: ArraySlice<String>, known: Set<String>) -> String? {
        for argument in arguments {
            if argument == "--" { return nil }
            guard argument.hasPrefix("--"), argument.count > 2 else { continue }
            let name = String(argument.prefix { $0 != "=" })
            if !known.contains(name) { return name }
        }
        return nil
    }

    /// The known name closest to `name` by edit distance, if it is close enough to be a typo.
    static func nearest(to name: String, among known: Set<String>) -> String? {
        let scored = known.map { ($0, editDistance(name, $0)) }.filter { $0.1 <= max(2, name.count / 4) }
        return scored.min { $0.1 != $1.1 ? $0.1 < $1.1 : $0.0 < $1.0 }?.0
    }

    private static func editDistance(_ a: String, _ b: String) -> Int {
        let a = Array(a), b = Array(b)
        var previous = Array(0...b.count)
        for i in 1...max(1, a.count) where !a.isEmpty {
            var current = [i] + Array(repeating: 0, count: b.count)
            for j in 1...max(1, b.count) where !b.isEmpty {
                current[j] = min(previous[j] + 1, current[j - 1] + 1, previous[j - 1] + (a[i - 1] == b[j - 1] ? 0 : 1))
            }
            previous = current
        }
        return previous[b.count]
    }
}
