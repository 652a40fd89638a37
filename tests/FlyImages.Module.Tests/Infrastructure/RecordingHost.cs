using System.Collections.ObjectModel;
using System.Globalization;
using System.Management.Automation;
using System.Management.Automation.Host;
using System.Security;
using System.Text;

namespace FlyImages.Module.Tests.Infrastructure;

/// <summary>A PSHost that records what a user would see (-WhatIf lines, formatted output) and answers prompts.</summary>
/// <param name="width">The console width formatting sees (Out-Default fits tables to it).</param>
public sealed class RecordingHost(int width = 160) : PSHost
{
    private readonly RecordingUi ui = new(width);

    public override CultureInfo CurrentCulture => CultureInfo.InvariantCulture;

    public override CultureInfo CurrentUICulture => CultureInfo.InvariantCulture;

    public override Guid InstanceId { get; } = Guid.NewGuid();

    public override string Name => "FlyImagesTestHost";

    public override PSHostUserInterface UI => ui;

    public override Version Version => new(1, 0);

    /// <summary>Everything written to the host since the last invocation started.</summary>
    public string Text => ui.Text;

    /// <summary>The answer to give confirmation prompts (index into the choices: 0 = Yes).</summary>
    public int ChoiceAnswer { get => ui.ChoiceAnswer; set => ui.ChoiceAnswer = value; }

    /// <summary>How many confirmation prompts were shown.</summary>
    public int PromptCount => ui.PromptCount;

    public void Clear() => ui.Clear();

    public override void EnterNestedPrompt()
    {
    }

    public override void ExitNestedPrompt()
    {
    }

    public override void NotifyBeginApplication()
    {
    }

    public override void NotifyEndApplication()
    {
    }

    public override void SetShouldExit(int exitCode)
    {
    }

    private sealed class RecordingUi(int width) : PSHostUserInterface
    {
        private readonly StringBuilder text = new();

        public int ChoiceAnswer { get; set; }

        public int PromptCount { get; private set; }

        public string Text
        {
            get
            {
                lock (text)
                {
                    return text.ToString();
                }
            }
        }

        public override PSHostRawUserInterface RawUI { get; } = new RawUi(width);

        public void Clear()
        {
            lock (text)
            {
                text.Clear();
                PromptCount = 0;
            }
        }

        public override Dictionary<string, PSObject> Prompt(string caption, string message, Collection<FieldDescription> descriptions) => [];

        public override int PromptForChoice(string caption, string message, Collection<ChoiceDescription> choices, int defaultChoice)
        {
            Append($"PROMPT: {caption} {message}\n");
            PromptCount++;
            return ChoiceAnswer;
        }

        public override PSCredential PromptForCredential(string caption, string message, string userName, string targetName) => throw new NotSupportedException();

        public override PSCredential PromptForCredential(string caption, string message, string userName, string targetName, PSCredentialTypes allowedCredentialTypes, PSCredentialUIOptions options) => throw new NotSupportedException();

        public override string ReadLine() => "";

        public override SecureString ReadLineAsSecureString() => new();

        public override void Write(string value) => Append(value);

        public override void Write(ConsoleColor foregroundColor, ConsoleColor backgroundColor, string value) => Append(value);

        public override void WriteDebugLine(string message) => Append("DEBUG: " + message + "\n");

        public override void WriteErrorLine(string value) => Append("ERROR: " + value + "\n");

        public override void WriteLine(string value) => Append(value + "\n");

        public override void WriteProgress(long sourceId, ProgressRecord record)
        {
        }

        public override void WriteVerboseLine(string message) => Append("VERBOSE: " + message + "\n");

        public override void WriteWarningLine(string message) => Append("WARNING: " + message + "\n");

        private void Append(string value)
        {
            lock (text)
            {
                text.Append(System.Text.RegularExpressions.Regex.Replace(value, @"\x1b\[[0-9;?]*[A-Za-z]", ""));
            }
        }
    }

    private sealed class RawUi(int width) : PSHostRawUserInterface
    {
        public override ConsoleColor BackgroundColor { get; set; }

        public override Size BufferSize { get => new(width, 9999); set { } }

        public override Coordinates CursorPosition { get; set; }

        public override int CursorSize { get; set; }

        public override ConsoleColor ForegroundColor { get; set; }

        public override bool KeyAvailable => false;

        public override Size MaxPhysicalWindowSize => new(width, 50);

        public override Size MaxWindowSize => new(width, 50);

        public override Coordinates WindowPosition { get; set; }

        public override Size WindowSize { get => new(width, 50); set { } }

        public override string WindowTitle { get; set; } = "";

        public override void FlushInputBuffer()
        {
        }

        public override BufferCell[,] GetBufferContents(Rectangle rectangle) => new BufferCell[0, 0];

        public override KeyInfo ReadKey(ReadKeyOptions options) => throw new NotSupportedException();

        public override void ScrollBufferContents(Rectangle source, Coordinates destination, Rectangle clip, BufferCell fill)
        {
        }

        public override void SetBufferContents(Coordinates origin, BufferCell[,] contents)
        {
        }

        public override void SetBufferContents(Rectangle rectangle, BufferCell fill)
        {
        }
    }
}
