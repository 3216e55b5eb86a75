// Deployed into the gallery's resource group: the Event Grid system topic on that resource group
// (created here, or an existing one referenced) and this instance's subscription, which delivers
// every new image version of the watched gallery to the `on_gallery_event` function. (The
// service's read access to the gallery is granted by grants.bicep, modules/gallery-access.bicep.)
//
// Azure allows one system topic per source, so the gallery's resource group may already have one,
// shared with other subscribers. Such a topic is only ever referenced as `existing`, never
// redeclared: a PUT would replace its identity and tags and break its other subscriptions.

@description('Name of the Azure Compute Gallery (in this resource group) whose new image versions trigger builds.')
param galleryName string

@description('Name of the system topic to create when the resource group has none.')
param newSystemTopicName string

@description('Name of the resource group\'s existing system topic to reuse; empty: create newSystemTopicName. A reused topic must already carry eventGridIdentityId (docs/deployment.md).')
param existingSystemTopicName string = ''

@description('Name of this instance\'s event subscription (unique per instance: several may watch one topic).')
@maxLength(64)
param eventSubscriptionName string

param tags object

@description('Resource id of the user-assigned identity Event Grid uses to write dead letters.')
param eventGridIdentityId string

@description('Create the event subscription. Needs the function code published first (Event Grid checks the function exists).')
param deployEventSubscription bool

@description('Resource id of the function app.')
param functionAppId string

@description('Name of the Event Grid triggered function.')
param functionName string

@description('Resource id of the storage account that receives dead letters.')
param deadLetterStorageAccountId string

@description('Blob container that receives dead letters.')
param deadLetterContainerName string

var createTopic = empty(existingSystemTopicName)

resource gallery 'Microsoft.Compute/galleries@2023-07-03' existing = {
  name: galleryName
}

resource newTopic 'Microsoft.EventGrid/systemTopics@2025-02-15' = if (createTopic) {
  name: newSystemTopicName
  location: 'global'
  tags: tags
  identity: {
    type: 'UserAssigned'
    userAssignedIdentities: {
      '${eventGridIdentityId}': {}
    }
  }
  properties: {
    source: resourceGroup().id
    topicType: 'Microsoft.Resources.ResourceGroups'
  }
}

// The topic the subscription hangs on: the one just created, or the existing one (read only).
resource topic 'Microsoft.EventGrid/systemTopics@2025-02-15' existing = {
  name: createTopic ? newSystemTopicName : existingSystemTopicName
}

resource galleryVersions 'Microsoft.EventGrid/systemTopics/eventSubscriptions@2025-02-15' = if (deployEventSubscription) {
  parent: topic
  name: eventSubscriptionName
  properties: {
    eventDeliverySchema: 'EventGridSchema'
    destination: {
      endpointType: 'AzureFunction'
      properties: {
        resourceId: '${functionAppId}/functions/${functionName}'
        maxEventsPerBatch: 1
        preferredBatchSizeInKilobytes: 64
      }
    }
    filter: {
      includedEventTypes: [
        'Microsoft.Resources.ResourceWriteSuccess'
      ]
      // The trailing slash: `.../galleries/golden` must not also match `.../galleries/golden2`.
      subjectBeginsWith: '${gallery.id}/'
      enableAdvancedFilteringOnArrays: true
      advancedFilters: [
        {
          operatorType: 'StringIn'
          key: 'data.operationName'
          values: [
            'Microsoft.Compute/galleries/images/versions/write'
          ]
        }
        {
          operatorType: 'StringContains'
          key: 'subject'
          values: [
            '/providers/Microsoft.Compute/galleries/'
          ]
        }
      ]
    }
    // Retry for a day, then keep the event in blob storage: nothing is lost silently.
    retryPolicy: {
      maxDeliveryAttempts: 30
      eventTimeToLiveInMinutes: 1440
    }
    deadLetterWithResourceIdentity: {
      identity: {
        type: 'UserAssigned'
        userAssignedIdentity: eventGridIdentityId
      }
      deadLetterDestination: {
        endpointType: 'StorageBlob'
        properties: {
          resourceId: deadLetterStorageAccountId
          blobContainerName: deadLetterContainerName
        }
      }
    }
  }
  dependsOn: [
    newTopic
  ]
}

output galleryId string = gallery.id
output systemTopicId string = topic.id
