namespace FlyImages.Host;

/// <summary>The pwsh-like command line: -Command, -File with arguments, -NoProfile, -NonInteractive.</summary>
internal sealed record CommandLine(string? Command, string? File, IReadOnlyList<string> FileArguments, bool NonInteractive, bool ShowHelp, string? Error)
{
    public const string Usage = """
        Usage: flyimages [-NoProfile] [-NonInteractive] [-NoLogo] (-Command <script> | -File <path> [args...])
          -Command, -c   runs the script text ('-' reads it from standard input)
          -File, -f      runs a script file; the rest of the line are its arguments (-Name value, switches, positionals)
        The FlyImages module is imported before the script runs. Exit code: 'exit n' gives n; a terminating
        error or a failed last command gives 1; otherwise 0.
        """;

    public static CommandLine Parse(IReadOnlyList<string> args)
    {
        string? command = null;
        string? file = null;
        var fileArgs = new List<string>();
        var nonInteractive = false;
        for (var i = 0; i < args.Count; i++)
        {
            var a = args[i];
            var name = a.StartsWith("--", StringComparison.Ordinal) ? a[2..] : a.StartsWith('-') ? a[1..] : null;
            switch (name?.ToLowerInvariant())
            {
                case "noprofile" or "nop" or "nologo" or "nol":
                    continue;
                case "noninteractive" or "noni":
                    nonInteractive = true;
                    continue;
                case "help" or "h" or "?":
                    return new CommandLine(null, null, [], nonInteractive, true, null);
                case "command" or "c":
                    if (i + 1 >= args.Count)
                    {
                        return Fail("-Command needs a script.");
                    }

                    // like pwsh: everything after -Command is the script
                    command = string.Join(' ', args.Skip(i + 1));
                    return new CommandLine(command, null, [], nonInteractive, false, null);
                case "file" or "f":
                    if (i + 1 >= args.Count)
                    {
                        return Fail("-File needs a path.");
                    }

                    file = args[i + 1];
                    fileArgs.AddRange(args.Skip(i + 2));
                    return new CommandLine(null, file, fileArgs, nonInteractive, false, null);
                default:
                    if (name is null && command is null)
                    {
                        // pwsh treats a bare first argument as -File
                        return new CommandLine(null, a, args.Skip(i + 1).ToList(), nonInteractive, false, null);
                    }

                    return Fail($"Unknown option '{a}'.");
            }
        }

        return Fail("Give -Command or -File.");

        CommandLine Fail(string why) => new(null, null, [], nonInteractive, false, why);
    }
}
