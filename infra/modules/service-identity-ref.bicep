// Reads the service identity bootstrap.bicep created (never redeclares it: a PUT would replace its
// tags). Deployed into the aibtrigger resource group by grants.bicep.

@description('Prefix of resource names (main.bicep namePrefix).')
param namePrefix string

var token = uniqueString(subscription().id, resourceGroup().id, namePrefix)

resource identity 'Microsoft.ManagedIdentity/userAssignedIdentities@2023-01-31' existing = {
  name: 'id-${namePrefix}-${token}'
}

output principalId string = identity.properties.principalId
