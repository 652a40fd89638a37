using System.Globalization;
using System.Management.Automation;
using System.Management.Automation.Host;
using System.Security;

namespace FlyImages.Host;

/// <summary>A minimal PSHost: output to stdout, errors/warnings/verbose to stderr, progress only on a terminal.</summary>
internal sealed partial class ConsoleHost(bool nonInteractive) : PSHost
{
    private readonly ConsoleUi ui = new(nonInteractive);

    public int? ExitCode { get; private set; }

    public override CultureInfo CurrentCulture => CultureInfo.CurrentCulture;

    public override CultureInfo CurrentUICulture => CultureInfo.CurrentUICulture;

    public override Guid InstanceId { get; } = Guid.NewGuid();

    public override string Name => "FlyImages.Host";

    public override PSHostUserInterface UI => ui;

    public override Version Version => typeof(ConsoleHost).Assembly.GetName().Version ?? new Version(0, 1);

    public override void EnterNestedPrompt() => throw new NotSupportedException("Nested prompts are not supported.");

    public override void ExitNestedPrompt() => throw new NotSupportedException("Nested prompts are not supported.");

    public override void NotifyBeginApplication()
    {
    }

    public override void NotifyEndApplication()
    {
    }

    public override void SetShouldExit(int exitCode) => ExitCode = exitCode;

    private sealed partial class ConsoleUi(bool nonInteractive) : PSHostUserInterface
    {
        private readonly TextWriter output = Console.Out;
        private readonly TextWriter error = Console.Error;
        private readonly bool progress = !Console.IsErrorRedirected;
        private readonly bool plain = Console.IsOutputRedirected || Environment.GetEnvironmentVariable("NO_COLOR") is not null;

        public override PSHostRawUserInterface RawUI { get; } = new RawUi();

        public override bool SupportsVirtualTerminal => !plain;

        public override void Write(string value) => output.Write(Plain(value));

        public override void Write(ConsoleColor foregroundColor, ConsoleColor backgroundColor, string value) => output.Write(Plain(value));

        public override void WriteLine(string value) => output.WriteLine(Plain(value));

        public override void WriteErrorLine(string value) => error.WriteLine(Plain(value));

        public override void WriteDebugLine(string message) => error.WriteLine("DEBUG: " + Plain(message));

        public override void WriteVerboseLine(string message) => error.WriteLine("VERBOSE: " + Plain(message));

        public override void WriteWarningLine(string message) => error.WriteLine("WARNING: " + Plain(message));

        /// <summary>The formatter colours table headers whatever $PSStyle says; files, pipes and CI logs get none.</summary>
        private string Plain(string value) => plain ? EscapeSequence().Replace(value, "") : value;

        [System.Text.RegularExpressions.GeneratedRegex(@"\x1b\[[0-9;?]*[A-Za-z]")]
        private static partial System.Text.RegularExpressions.Regex EscapeSequence();

        public override void WriteProgress(long sourceId, ProgressRecord record)
        {
            if (!progress)
            {
                return;
            }

            var text = record.RecordType == ProgressRecordType.Completed
                ? ""
                : $"{record.Activity}: {record.StatusDescription}{(record.PercentComplete >= 0 ? $" {record.PercentComplete}%" : "")}";
            var width = Math.Max(20, RawUI.WindowSize.Width - 1);
            error.Write("\r" + (text.Length > width ? text[..width] : text.PadRight(width)) + (text.Length == 0 ? "\r" : ""));
        }

        public override string ReadLine() => nonInteractive ? throw NoInput() : Console.ReadLine() ?? "";

        public override SecureString ReadLineAsSecureString()
        {
            var secure = new SecureString();
            foreach (var c in ReadLine())
            {
                secure.AppendChar(c);
            }

            return secure;
        }

        public override Dictionary<string, PSObject> Prompt(string caption, string message, System.Collections.ObjectModel.Collection<FieldDescription> descriptions)
        {
            if (nonInteractive)
            {
                throw NoInput();
            }

            var result = new Dictionary<string, PSObject>();
            foreach (var d in descriptions)
            {
                error.Write($"{d.Name}: ");
                result[d.Name] = PSObject.AsPSObject(ReadLine());
            }

            return result;
        }

        public override int PromptForChoice(string caption, string message, System.Collections.ObjectModel.Collection<ChoiceDescription> choices, int defaultChoice)
        {
            if (nonInteractive)
            {
                throw NoInput();
            }

            error.WriteLine(caption);
            error.WriteLine(message);
            for (var i = 0; i < choices.Count; i++)
            {
                error.WriteLine($"[{i}] {choices[i].Label.Replace("&", "", StringComparison.Ordinal)}  {choices[i].HelpMessage}");
            }

            error.Write($"Choice (default {defaultChoice}): ");
            var answer = Console.ReadLine();
            return int.TryParse(answer, out var n) && n >= 0 && n < choices.Count ? n : defaultChoice;
        }

        public override PSCredential PromptForCredential(string caption, string message, string userName, string targetName)
            => PromptForCredential(caption, message, userName, targetName, PSCredentialTypes.Default, PSCredentialUIOptions.Default);

        public override PSCredential PromptForCredential(string caption, string message, string userName, string targetName, PSCredentialTypes allowedCredentialTypes, PSCredentialUIOptions options)
        {
            if (nonInteractive)
            {
                throw NoInput();
            }

            error.Write($"{message}\nUser ({userName}): ");
            var user = ReadLine();
            error.Write("Password: ");
            return new PSCredential(string.IsNullOrEmpty(user) ? userName : user, ReadLineAsSecureString());
        }

        private static PSInvalidOperationException NoInput()
            => new("The host is non-interactive (-NonInteractive): it cannot prompt. Use -Confirm:$false or -Force.");
    }

    private sealed class RawUi : PSHostRawUserInterface
    {
        public override ConsoleColor BackgroundColor { get; set; } = ConsoleColor.Black;

        public override Size BufferSize { get => new(Width(), 9999); set { } }

        public override Coordinates CursorPosition { get; set; }

        public override int CursorSize { get; set; }

        public override ConsoleColor ForegroundColor { get; set; } = ConsoleColor.Gray;

        public override bool KeyAvailable => false;

        public override Size MaxPhysicalWindowSize => new(Width(), 50);

        public override Size MaxWindowSize => new(Width(), 50);

        public override Coordinates WindowPosition { get; set; }

        public override Size WindowSize { get => new(Width(), 50); set { } }

        public override string WindowTitle { get; set; } = "FlyImages";

        public override void FlushInputBuffer()
        {
        }

        public override BufferCell[,] GetBufferContents(Rectangle rectangle) => new BufferCell[0, 0];

        public override KeyInfo ReadKey(ReadKeyOptions options) => throw new NotSupportedException("ReadKey is not supported.");

        public override void ScrollBufferContents(Rectangle source, Coordinates destination, Rectangle clip, BufferCell fill)
        {
        }

        public override void SetBufferContents(Coordinates origin, BufferCell[,] contents)
        {
        }

        public override void SetBufferContents(Rectangle rectangle, BufferCell fill)
        {
        }

        private static int Width()
        {
            try
            {
                return Console.IsOutputRedirected ? 120 : Math.Max(40, Console.WindowWidth);
            }
            catch (IOException)
            {
                return 120;
            }
        }
    }
}
