import OctetCLI

OctetCommand.runMain()
