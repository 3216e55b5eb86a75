// The Event Grid custom topic where aibtrigger publishes build results as CloudEvents 1.0.
// Local (key/SAS) authentication is disabled: publishers need a Microsoft Entra token and the
// EventGrid Data Sender role, which only the service's identity gets, on this topic only.

param name string
param location string
param tags object

@description('Principal id of the function app identity: the only publisher.')
param publisherPrincipalId string

var eventGridDataSender = 'd5a91429-5739-47e2-a06b-3470a27159e7'

resource topic 'Microsoft.EventGrid/topics@2025-02-15' = {
  // checkov:skip=CKV_AZURE_193:The publisher is the Function App, which has no VNet integration here; publishing needs an Entra token with EventGrid Data Sender on this topic (local auth is disabled).
  name: name
  location: location
  tags: tags
  // Not used to publish: it lets subscribers deliver or dead-letter with this identity instead of
  // keys (deliveryWithResourceIdentity). It is granted nothing here.
  identity: {
    type: 'SystemAssigned'
  }
  properties: {
    inputSchema: 'CloudEventSchemaV1_0'
    disableLocalAuth: true
    minimumTlsVersionAllowed: '1.2'
    publicNetworkAccess: 'Enabled'
    dataResidencyBoundary: 'WithinGeopair'
  }
}

resource sender 'Microsoft.Authorization/roleAssignments@2022-04-01' = {
  name: guid(topic.id, publisherPrincipalId, eventGridDataSender)
  scope: topic
  properties: {
    roleDefinitionId: subscriptionResourceId('Microsoft.Authorization/roleDefinitions', eventGridDataSender)
    principalId: publisherPrincipalId
    principalType: 'ServicePrincipal'
    description: 'aibtrigger: publish build results'
  }
}

output id string = topic.id
output endpoint string = topic.properties.endpoint
