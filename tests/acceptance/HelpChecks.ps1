#Requires -Version 7.4
<#
    The rules the module's help must keep, in one place: dot-sourced by tests/acceptance/Help.Tests.ps1 (Pester, real
    pwsh against the packaged or installed module) and by the xunit HelpTests (hosted engine, fast suite).

    Get-FlyHelpProblem [-Module FlyImages] [-Name <cmdlet>] writes one line per problem; nothing means the help of
    every command (or of -Name) is complete and agrees with the code. Every command of the module is checked, so
    cmdlets added later are checked without touching the tests.
#>

# Only Microsoft.PowerShell.Core cmdlets and .NET here: the xunit host has no Microsoft.PowerShell.Utility
# (Sort-Object, Select-Object, Out-String).
function Join-Sorted([object[]] $Items) {
    $sorted = [string[]]@($Items | Where-Object { $_ })
    [Array]::Sort($sorted, [StringComparer]::OrdinalIgnoreCase)
    $sorted -join ', '
}

function Get-FlyHelpProblem {
    [CmdletBinding()]
    [OutputType([string])]
    param(
        [string] $Module = 'FlyImages',
        [string[]] $Name
    )

    $placeholder = '\{\{|\bTODO\b|\bTBD\b|\bFIXME\b|Fill in|PLACEHOLDER|XXX'
    $common = [System.Management.Automation.PSCmdlet]::CommonParameters
    $commands = Get-Command -Module $Module -CommandType Cmdlet, Function
    if (-not $commands) {
        "module '$Module' exports no commands"
        return
    }

    foreach ($command in $commands | Where-Object { -not $Name -or $_.Name -in $Name }) {
        $n = $command.Name
        $help = Get-Help $n -Full -ErrorAction SilentlyContinue
        if (-not $help -or $help -is [string] -or -not $help.description) {
            "${n}: no MAML help found (Get-Help shows only the syntax)"
            continue
        }

        $texts = [Collections.Generic.List[object]]::new()
        $synopsis = "$($help.Synopsis)".Trim()
        if (-not $synopsis -or $synopsis -like "$n *" -or $synopsis -eq $n) { "${n}: no synopsis" }
        $texts.Add(@('synopsis', $synopsis))
        $description = ($help.description.Text | Where-Object { $_ }) -join ' '
        if (-not $description.Trim()) { "${n}: no description" }
        $texts.Add(@('description', $description))

        # parameters: every one documented, none stale, attributes as the code has them
        $documented = @{}
        foreach ($p in @($help.parameters.parameter)) { if ($p) { $documented[$p.name] = $p } }
        $actual = $command.Parameters.Values | Where-Object { $_.Name -notin $common }
        foreach ($parameter in $actual) {
            $pn = $parameter.Name
            $doc = $documented[$pn]
            if (-not $doc) { "${n}: -$pn is not in the help"; continue }
            $text = ($doc.description.Text | Where-Object { $_ }) -join ' '
            if (-not $text.Trim()) { "${n}: -$pn has no description" }
            $texts.Add(@("-$pn", $text))

            $sets = @($parameter.ParameterSets.Values)
            $mandatory = -not ($sets | Where-Object { -not $_.IsMandatory })
            $positions = @([Linq.Enumerable]::Distinct([int[]]@($sets | ForEach-Object Position)))
            $position = if ($positions.Count -eq 1 -and $positions[0] -ne [int]::MinValue) { "$($positions[0])" } else { 'named' }
            $byValue = [bool]($sets | Where-Object ValueFromPipeline)
            $byName = [bool]($sets | Where-Object ValueFromPipelineByPropertyName)
            $pipeline = if ($byValue -and $byName) { 'True (ByValue, ByPropertyName)' } elseif ($byValue) { 'True (ByValue)' } elseif ($byName) { 'True (ByPropertyName)' } else { 'False' }
            $wildcards = [bool]($parameter.Attributes | Where-Object { $_ -is [System.Management.Automation.SupportsWildcardsAttribute] })
            $type = $parameter.ParameterType
            if ($type.IsGenericType -and $type.GetGenericTypeDefinition() -eq [Nullable`1]) { $type = $type.GetGenericArguments()[0] }

            if ("$($doc.required)" -ne "$mandatory".ToLowerInvariant()) { "${n}: -$pn says required=$($doc.required), the code says $mandatory" }
            if ("$($doc.position)" -ne $position) { "${n}: -$pn says position $($doc.position), the code says $position" }
            if ("$($doc.pipelineInput)" -ne $pipeline) { "${n}: -$pn says pipeline input '$($doc.pipelineInput)', the code says '$pipeline'" }
            if ("$($doc.globbing)" -ne "$wildcards".ToLowerInvariant()) { "${n}: -$pn says wildcards=$($doc.globbing), the code says $wildcards" }
            if ("$($doc.type.name)" -ne $type.FullName) { "${n}: -$pn says type $($doc.type.name), the code says $($type.FullName)" }
        }
        foreach ($stale in $documented.Keys | Where-Object { -not $command.Parameters.ContainsKey($_) }) {
            "${n}: the help documents -$stale, which the command does not have"
        }

        # syntax: one item per parameter set, with that set's parameters, mandatory and positions
        $items = @($help.syntax.syntaxItem)
        $setCount = @($command.ParameterSets).Count
        if ($items.Count -ne $setCount) { "${n}: the help shows $($items.Count) syntax forms, the command has $setCount parameter sets" }
        foreach ($set in $command.ParameterSets) {
            $want = Join-Sorted ($set.Parameters | Where-Object Name -NotIn $common | ForEach-Object Name)
            $item = @($items | Where-Object { (Join-Sorted $_.parameter.name) -eq $want })[0]
            if (-not $item) { "${n}: no syntax form has the parameters of set '$($set.Name)': $want"; continue }
            foreach ($p in $set.Parameters | Where-Object Name -NotIn $common) {
                $doc = $item.parameter | Where-Object name -EQ $p.Name
                $position = if ($p.Position -ge 0) { "$($p.Position)" } else { 'named' }
                if ("$($doc.required)" -ne "$($p.IsMandatory)".ToLowerInvariant()) { "${n}: syntax of set '$($set.Name)': -$($p.Name) required=$($doc.required), the code says $($p.IsMandatory)" }
                if ("$($doc.position)" -ne $position) { "${n}: syntax of set '$($set.Name)': -$($p.Name) position $($doc.position), the code says $position" }
            }
        }

        # inputs and outputs
        $inputs = @($help.inputTypes.inputType.type.name)
        foreach ($parameter in $actual | Where-Object { $_.ParameterSets.Values | Where-Object ValueFromPipeline }) {
            $type = $parameter.ParameterType
            $element = if ($type.IsArray) { $type.GetElementType() } else { $type }
            if ($element.FullName -notin $inputs) { "${n}: INPUTS does not name $($element.FullName) (-$($parameter.Name) takes it by value)" }
        }
        $outputs = @($help.returnValues.returnValue.type.name)
        foreach ($type in $command.OutputType) {
            if ($type.Name -notin $outputs) { "${n}: OUTPUTS does not name $($type.Name) ([OutputType])" }
        }
        if (-not $command.OutputType -and 'None' -notin $outputs) { "${n}: OUTPUTS should say None (no [OutputType])" }

        # examples: two at least, each with code and a remark
        $examples = @($help.examples.example)
        if ($examples.Count -lt 2) { "${n}: $($examples.Count) example(s), two at least wanted" }
        $i = 0
        foreach ($example in $examples) {
            $i++
            $code = "$($example.code)".Trim()
            $remarks = ($example.remarks.Text | Where-Object { $_ }) -join ' '
            if (-not $code) { "${n}: example $i has no code" }
            if (-not $remarks.Trim()) { "${n}: example $i has no remarks" }
            if ($code -and $code -notmatch [regex]::Escape($n)) { "${n}: example $i does not use $n" }
            $texts.Add(@("example $i", "$code $remarks"))
        }

        $links = @($help.relatedLinks.navigationLink.linkText | Where-Object { $_ })
        if (-not $links) { "${n}: no related links" }
        foreach ($link in $links | Where-Object { $_ -match '^\w+-\w+$' }) {
            if (-not (Get-Command $link -ErrorAction SilentlyContinue)) { "${n}: related link $link is not a command" }
        }

        foreach ($t in $texts) {
            if ($t[1] -match $placeholder) { "${n}: $($t[0]) holds a placeholder ('$($Matches[0])')" }
        }
    }
}
