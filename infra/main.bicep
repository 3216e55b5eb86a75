// aibtrigger, step 3 of a first deployment and every deployment after it: the service, into its
// resource group (`az deployment group create`), with the deployer's rights only (grants.bicep):
//
//   - the user-assigned identity the Function App runs as (created by bootstrap.bicep, step 1, and
//     given its access to templates, staging logs, the gallery and the marketplace by grants.bicep,
//     step 2: custom roles are never defined and assigned in one deployment);
//   - a storage account with shared keys disabled: identity-based host storage, queues, tables,
//     build-log copies, the Flex deployment package, dead-lettered gallery events;
//   - Log Analytics + Application Insights with local auth disabled;
//   - the Function App on the Flex Consumption plan (Python 3.11);
//   - an Event Grid custom topic (CloudEvents 1.0, local auth disabled) for build results;
//   - in the gallery's resource group: an Event Grid system topic (or an existing one, referenced)
//     and this instance's subscription delivering new gallery image versions to `on_gallery_event`;
//   - built-in data roles for its own identities on its own resources (the deployer may assign
//     those and no other, by the condition grants.bicep sets).
// Nothing here deploys at subscription scope.
//
// docs/deployment.md walks through a first deployment and a code-only redeploy.

@description('Region of the resources (the Flex Consumption plan must be available there).')
param location string = resourceGroup().location

@description('Prefix of resource names: lowercase letters and digits, 3 to 11 characters.')
@minLength(3)
@maxLength(11)
param namePrefix string = 'aibtrigger'

@description('Tags put on every resource.')
param tags object = {}

@description('Resource group of the Azure Compute Gallery whose new image versions trigger builds.')
param galleryResourceGroupName string

@description('Name of that gallery.')
param galleryName string

@description('Name of the Event Grid system topic to create on the gallery resource group when it has none.')
param gallerySystemTopicName string = 'aibtrigger-gallery-events'

@description('The gallery resource group\'s existing system topic, to reuse (Azure allows one per source); empty: create gallerySystemTopicName. It is referenced, never redeclared: add the Event Grid identity (output eventGridIdentityId) to it first (docs/deployment.md).')
param existingGallerySystemTopicName string = ''

@description('Subscribe `on_gallery_event` to gallery events. Set true only once the code is published: Event Grid refuses a subscription to a function that does not exist yet.')
param deployGalleryEventSubscription bool = false

@description('Catalog file, relative to the app root (deployed with the code).')
param catalogPath string = 'catalog.yaml'

@description('Shortest delay between two status reads of a run (seconds).')
@minValue(5)
param pollMinSeconds int = 30

@description('Longest delay between two status reads of a run (seconds).')
@minValue(5)
param pollMaxSeconds int = 600

@description('A run this long past its template timeout is cancelled and recorded TimedOut (minutes).')
@minValue(0)
param timeoutGraceMinutes int = 15

@description('NCRONTAB (6 fields, seconds first) of the marketplace sweep for new platform image versions.')
param sweepSchedule string = '0 */15 * * * *'

@description('NCRONTAB of the schedule check: how often the templates\' own schedules are read.')
param tickSchedule string = '0 * * * * *'

@description('NCRONTAB of retention (prune): deletes the image versions policy.retention lets go. Daily by default.')
param pruneSchedule string = '0 30 3 * * *'

@description('Largest number of Function App instances.')
@minValue(40)
@maxValue(1000)
param maximumInstanceCount int = 40

@description('Memory of each Function App instance (MB).')
@allowed([
  512
  2048
  4096
])
param instanceMemoryMB int = 2048

@description('Replication of the storage account. LRS exists in every region; choose Standard_ZRS where the region has availability zones (docs/deployment.md shows how to check).')
@allowed([
  'Standard_ZRS'
  'Standard_GZRS'
  'Standard_GRS'
  'Standard_LRS'
])
param storageSkuName string = 'Standard_LRS'

@description('Days Log Analytics keeps the logs.')
@minValue(30)
@maxValue(730)
param logRetentionInDays int = 30

var token = uniqueString(subscription().id, resourceGroup().id, namePrefix)
var functionAppName = '${namePrefix}-${token}'
var storageAccountName = take(toLower('st${namePrefix}${token}'), 24)

// The names the code uses (aibtrigger/config.py); tests/infra checks both lists agree.
var queueNames = [
  'aib-requests'
  'aib-polls'
  'aib-results'
  'aib-requests-poison'
  'aib-polls-poison'
]
var tableNames = [
  'aibclaims'
  'aibruns'
  'aiboutcomes'
  'aibtemplates'
  'aibsources'
]
var logsContainerName = 'aibtrigger-logs'
var deploymentContainerName = 'app-package'
var deadLetterContainerName = 'eventgrid-deadletter'
var galleryEventFunctionName = 'on_gallery_event'

// The service's identity (the Function App runs as it): created by bootstrap.bicep
// (modules/service-identity.bicep, same name formula), referenced here.
resource appIdentity 'Microsoft.ManagedIdentity/userAssignedIdentities@2023-01-31' existing = {
  name: 'id-${namePrefix}-${token}'
}

// Event Grid's identity: writes dead letters, nothing else.
resource eventGridIdentity 'Microsoft.ManagedIdentity/userAssignedIdentities@2023-01-31' = {
  name: 'id-${namePrefix}-eventgrid-${token}'
  location: location
  tags: tags
}

module storage 'modules/storage.bicep' = {
  name: 'aibtrigger-storage'
  params: {
    name: storageAccountName
    location: location
    tags: tags
    skuName: storageSkuName
    queueNames: queueNames
    tableNames: tableNames
    containerNames: [
      logsContainerName
      deploymentContainerName
      deadLetterContainerName
    ]
    appPrincipalId: appIdentity.properties.principalId
    eventGridPrincipalId: eventGridIdentity.properties.principalId
    deadLetterContainerName: deadLetterContainerName
  }
}

module monitoring 'modules/monitoring.bicep' = {
  name: 'aibtrigger-monitoring'
  params: {
    workspaceName: 'log-${namePrefix}-${token}'
    appInsightsName: 'appi-${namePrefix}-${token}'
    location: location
    tags: tags
    retentionInDays: logRetentionInDays
    appPrincipalId: appIdentity.properties.principalId
  }
}

module resultsTopic 'modules/results-topic.bicep' = {
  name: 'aibtrigger-results-topic'
  params: {
    name: 'evgt-${namePrefix}-results-${token}'
    location: location
    tags: tags
    publisherPrincipalId: appIdentity.properties.principalId
  }
}

// Every app setting, in one place. The keys are exactly what the code reads
// (aibtrigger.config.setting_names()) plus the host settings listed in tests/infra; a test fails
// when the two drift apart.
var appSettings = {
  // Identity-based host storage, read by the Functions host; aibtrigger reads the account name.
  AzureWebJobsStorage__accountName: storage.outputs.name
  AzureWebJobsStorage__credential: 'managedidentity'
  AzureWebJobsStorage__clientId: appIdentity.properties.clientId
  // DefaultAzureCredential picks the user-assigned identity by this client id.
  AZURE_CLIENT_ID: appIdentity.properties.clientId
  // Telemetry with Entra ID; the connection string is not a secret once local auth is disabled.
  APPLICATIONINSIGHTS_CONNECTION_STRING: monitoring.outputs.connectionString
  APPLICATIONINSIGHTS_AUTHENTICATION_STRING: 'ClientId=${appIdentity.properties.clientId};Authorization=AAD'
  // aibtrigger itself.
  AIBTRIGGER_CATALOG_PATH: catalogPath
  AIBTRIGGER_BACKEND: 'aib'
  AIBTRIGGER_PUBLISHER: 'eventgrid'
  AIBTRIGGER_EVENTGRID_ENDPOINT: resultsTopic.outputs.endpoint
  AIBTRIGGER_SUBSCRIPTION_ID: subscription().subscriptionId
  AIBTRIGGER_ARM_ENDPOINT: environment().resourceManager
  AIBTRIGGER_ARM_RETRY_TOTAL: '5'
  AIBTRIGGER_POLL_MIN_SECONDS: string(pollMinSeconds)
  AIBTRIGGER_POLL_MAX_SECONDS: string(pollMaxSeconds)
  AIBTRIGGER_TIMEOUT_GRACE_MINUTES: string(timeoutGraceMinutes)
  // Timer bindings read these as %AIBTRIGGER_..._SCHEDULE%: the host needs them set.
  AIBTRIGGER_SWEEP_SCHEDULE: sweepSchedule
  AIBTRIGGER_TICK_SCHEDULE: tickSchedule
  AIBTRIGGER_PRUNE_SCHEDULE: pruneSchedule
}

module functionApp 'modules/functionapp.bicep' = {
  name: 'aibtrigger-functionapp'
  params: {
    name: functionAppName
    location: location
    tags: tags
    identityId: appIdentity.id
    storageBlobEndpoint: storage.outputs.blobEndpoint
    deploymentContainerName: deploymentContainerName
    appSettings: appSettings
    maximumInstanceCount: maximumInstanceCount
    instanceMemoryMB: instanceMemoryMB
  }
}

module gallery 'modules/gallery.bicep' = {
  name: 'aibtrigger-gallery-${token}'
  scope: resourceGroup(galleryResourceGroupName)
  params: {
    galleryName: galleryName
    newSystemTopicName: gallerySystemTopicName
    existingSystemTopicName: existingGallerySystemTopicName
    eventSubscriptionName: take('aibtrigger-${functionAppName}', 64)
    tags: tags
    eventGridIdentityId: eventGridIdentity.id
    deployEventSubscription: deployGalleryEventSubscription
    functionAppId: functionApp.outputs.id
    functionName: galleryEventFunctionName
    deadLetterStorageAccountId: storage.outputs.id
    deadLetterContainerName: deadLetterContainerName
  }
}

output functionAppName string = functionApp.outputs.name
output functionAppUrl string = 'https://${functionApp.outputs.defaultHostName}'
output storageAccountName string = storage.outputs.name
output resultsTopicEndpoint string = resultsTopic.outputs.endpoint
output identityClientId string = appIdentity.properties.clientId
output identityPrincipalId string = appIdentity.properties.principalId
output gallerySystemTopicId string = gallery.outputs.systemTopicId
output eventGridIdentityId string = eventGridIdentity.id
