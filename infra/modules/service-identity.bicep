// The user-assigned identity aibtrigger runs as. bootstrap.bicep creates it, before any role is
// granted to it (grants.bicep) and before main.bicep references it as `existing`: a principal that
// already exists is never assigned a role in the deployment that creates it. The name formula is
// the one main.bicep and service-identity-ref.bicep use (tests/infra checks they agree).

@description('Prefix of resource names (main.bicep namePrefix).')
param namePrefix string

param location string
param tags object

var token = uniqueString(subscription().id, resourceGroup().id, namePrefix)

resource identity 'Microsoft.ManagedIdentity/userAssignedIdentities@2023-01-31' = {
  name: 'id-${namePrefix}-${token}'
  location: location
  tags: tags
}

output id string = identity.id
output principalId string = identity.properties.principalId
