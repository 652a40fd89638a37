#Requires -Version 7.4
#Requires -Modules @{ ModuleName = 'Pester'; ModuleVersion = '5.3.0' }
<#
    The module's help, as pwsh users get it (Get-Help against the packaged or installed module):

        Invoke-Pester ./tests/acceptance/Help.Tests.ps1 -Output Detailed
        Invoke-Pester ./tests/acceptance -TagFilter Help

    Every command of the module is checked (synopsis, description, every parameter, two examples with remarks, inputs,
    outputs, related links; no placeholders; required, position, pipeline input, wildcards, type and parameter sets as
    the code has them), so cmdlets added later are checked too. The rules are in HelpChecks.ps1, shared with the xunit
    HelpTests of the fast suite. FLYIMAGES_ACCEPTANCE_MODULE picks the module as in FlyImages.Acceptance.Tests.ps1.
#>

BeforeDiscovery {
    $manifest = $env:FLYIMAGES_ACCEPTANCE_MODULE
    if (-not $manifest) {
        $built = Join-Path $PSScriptRoot '../../out/FlyImages/FlyImages.psd1'
        $manifest = if (Test-Path $built) { $built } else { 'FlyImages' }
    }
    Import-Module $manifest -Force -ErrorAction Stop
    $commands = @(Get-Command -Module FlyImages -CommandType Cmdlet, Function | ForEach-Object { @{ Name = $_.Name } })
}

BeforeAll {
    . (Join-Path $PSScriptRoot 'HelpChecks.ps1')
}

Describe 'Help' -Tag Help {
    It 'the module exports commands to check' {
        Get-Command -Module FlyImages | Should -Not -BeNullOrEmpty
    }

    It '<Name> has complete help that agrees with the code' -ForEach $commands {
        $problems = @(Get-FlyHelpProblem -Module FlyImages -Name $Name)
        $problems -join [Environment]::NewLine | Should -BeNullOrEmpty
    }

    It 'about_FlyImages is a complete about topic' {
        $about = Get-Help about_FlyImages -ErrorAction Stop | Out-String
        foreach ($section in 'TOPIC', 'SHORT DESCRIPTION', 'LONG DESCRIPTION', 'IMAGES AND SOURCES', 'LAYER CHAINS',
            'THIN POOLS', 'SNAPSHOTS', 'THE STORE', 'STATES', 'ERRORS', 'ENVIRONMENT VARIABLES', 'SEE ALSO') {
            $about | Should -Match "(?m)^\s*$section\s*$" -Because "about_FlyImages has a $section section"
        }
        foreach ($variable in 'FLYIMAGES_HOME', 'FLYIMAGES_SOURCE', 'FLYIMAGES_S3_ENDPOINT', 'AWS_ACCESS_KEY_ID', 'AWS_PROFILE') {
            $about | Should -Match $variable
        }
        foreach ($command in Get-Command -Module FlyImages) {
            $about | Should -Match ([regex]::Escape($command.Name)) -Because 'SEE ALSO names every command'
        }
        $about | Should -Not -Match '\{\{|\bTODO\b|Fill in'
    }
}
